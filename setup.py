"""Build step for the engine's compiled kernel; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("frd._kernels", ["frd/_kernels.c"], extra_compile_args=["-O3", "-ffp-contract=off"])])
