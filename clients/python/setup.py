"""The runtime dependencies follow the generated stubs (see generate.requirements); the rest
of the package is in pyproject.toml, and build_backend/tally_build.py generates the stubs."""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

setup(install_requires=generate.requirements())
