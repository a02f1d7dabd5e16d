"""The package's build backend: setuptools' own, with the tally stubs generated first.

setuptools checks that every listed package directory exists while it prepares the
metadata, before any build command runs, so the stubs are generated in each hook that
reaches setuptools (metadata, wheel, sdist, editable), not in a build command.
"""
import os
import sys

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401 (hooks passed through unchanged)
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import generate  # noqa: E402


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    generate.ensure()
    return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    generate.ensure()
    return _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    generate.ensure()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    generate.ensure()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    generate.ensure()
    return _setuptools.build_sdist(sdist_directory, config_settings)
