#!/usr/bin/env python3
"""Generates the tally.v1 Python modules and gRPC stubs from the proto files.

Run it from anywhere: `python generate.py` writes `tally/v1/*_pb2.py`, `*_pb2.pyi` and
`*_pb2_grpc.py` beside this file (the `tally` package, not committed). The package build
(setup.py) runs it too, so `pip install clients/python` needs grpcio-tools at build time.

The protos are read from ../../proto (the repository's proto root), or from
$TALLY_PROTO_DIR. google/type/date.proto is not generated: the `google.type` modules come
from googleapis-common-protos, which holds the same file.
"""
import os
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent


def proto_root() -> pathlib.Path:
    root = pathlib.Path(os.environ.get("TALLY_PROTO_DIR") or HERE.parent.parent / "proto")
    if not (root / "tally" / "v1").is_dir():
        raise SystemExit(f"no tally/v1 protos under {root}; set TALLY_PROTO_DIR")
    return root.resolve()


def generate(out: pathlib.Path = HERE) -> list:
    from grpc_tools import protoc  # grpcio-tools

    try:
        from importlib.resources import files

        well_known = str(files("grpc_tools") / "_proto")
    except ImportError:  # Python < 3.9
        import pkg_resources

        well_known = pkg_resources.resource_filename("grpc_tools", "_proto")

    root = proto_root()
    protos = sorted(p.relative_to(root).as_posix() for p in (root / "tally" / "v1").glob("*.proto"))
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
    for pkg in (package, package / "v1"):
        (pkg / "__init__.py").write_text('"""Generated from proto/tally by generate.py."""\n')
    return protos


if __name__ == "__main__":
    done = generate()
    print(f"generated {len(done)} files of tally.v1 into {HERE / 'tally'}", file=sys.stderr)
