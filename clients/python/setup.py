"""Build hook: generates the tally.v1 stubs from ../../proto before packaging them."""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class BuildPyWithStubs(build_py):
    def run(self):
        import generate

        generate.generate()
        super().run()


setup(cmdclass={"build_py": BuildPyWithStubs})
