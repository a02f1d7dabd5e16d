#!/usr/bin/env python3
"""Generates the tally.v1 Python modules and gRPC stubs from the proto files.

Run it from anywhere: `python generate.py` writes `tally/v1/*_pb2.py`, `*_pb2.pyi` and
`*_pb2_grpc.py` beside this file (the `tally` package, not committed). The package build
runs it too (the in-tree backend `build_backend/tally_build.py`), so
`pip install clients/python` generates the stubs with the grpcio-tools of the build.

Every `*.proto` under the proto root's `tally/` is generated, so a new service file needs
no change here. The protos are read from ../../proto (the repository's proto root), or
from $TALLY_PROTO_DIR. The `google.*` protos are not generated: the `google.type` and
`google.rpc` modules come from googleapis-common-protos, which holds the same files.
"""
import os
import pathlib
import re
import shutil
import sys
from typing import List, Optional

HERE = pathlib.Path(__file__).resolve().parent


def proto_root() -> Optional[pathlib.Path]:
    """The proto root, or None when there is none (an sdist, which carries the stubs)."""
    given = os.environ.get("TALLY_PROTO_DIR")
    root = pathlib.Path(given) if given else HERE.parent.parent / "proto"
    if not (root / "tally").is_dir():
        if given:
            raise SystemExit(f"TALLY_PROTO_DIR={given} holds no tally/ protos")
        return None
    return root.resolve()


def generate(out: pathlib.Path = HERE) -> List[str]:
    """Generates the `tally` package from every tally proto into `out`; returns the protos."""
    from grpc_tools import protoc  # grpcio-tools

    try:
        from importlib.resources import files

        well_known = str(files("grpc_tools") / "_proto")
    except ImportError:  # Python < 3.9
        import pkg_resources

        well_known = pkg_resources.resource_filename("grpc_tools", "_proto")

    root = proto_root()
    if root is None:
        raise SystemExit(f"no tally protos under {HERE.parent.parent / 'proto'}; set TALLY_PROTO_DIR")
    protos = sorted(p.relative_to(root).as_posix() for p in (root / "tally").rglob("*.proto"))
    package = out / "tally"
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed: " + " ".join(args))
    for pkg in sorted({package, *(out / pathlib.Path(p).parent for p in protos)}):
        (pkg / "__init__.py").write_text('"""Generated from proto/tally by generate.py."""\n')
        # PEP 561: the .pyi files are the types of the generated messages.
        (pkg / "py.typed").write_text("")
    return protos


def ensure(out: pathlib.Path = HERE) -> None:
    """Generates the stubs when the protos are at hand (a clone); otherwise (building from an
    sdist, which carries them) checks that they are there."""
    if proto_root() is not None:
        generate(out)
    elif not (out / "tally" / "v1" / "__init__.py").is_file():
        raise SystemExit(
            f"neither the proto files ({HERE.parent.parent / 'proto'}, or TALLY_PROTO_DIR) "
            f"nor generated stubs ({out / 'tally'}) are here"
        )


def requirements(out: pathlib.Path = HERE) -> List[str]:
    """The runtime dependencies the generated code needs: a grpcio at least as new as the
    grpcio-tools that generated it (the stubs refuse an older one at import) and a protobuf
    at least as new as its protoc (the same)."""
    grpc_version, protobuf_version = "1.66.0", "5.27.0"
    for path in sorted((out / "tally").rglob("*_pb2_grpc.py")):
        found = re.search(r"GRPC_GENERATED_VERSION = '([0-9.]+)'", path.read_text())
        if found:
            grpc_version = found.group(1)
            break
    for path in sorted((out / "tally").rglob("*_pb2.py")):
        found = re.search(
            r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+)",
            path.read_text(),
        )
        if found:
            protobuf_version = ".".join(found.groups())
            break
    return [
        f"grpcio>={grpc_version}",
        "grpcio-status>=1.66",
        f"protobuf>={protobuf_version}",
        "googleapis-common-protos>=1.63",
    ]


if __name__ == "__main__":
    done = generate()
    print(f"generated {len(done)} files of tally.v1 into {HERE / 'tally'}", file=sys.stderr)
