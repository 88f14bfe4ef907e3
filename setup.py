"""Build step for the engine's compiled kernels; everything else is in pyproject.toml."""

from setuptools import Extension, setup

# No floating-point contraction: the kernels reproduce numpy's (and its SVML's), ITK's and PyWavelets' arithmetic
# operation for operation, and a fused multiply-add would round differently.
FLAGS = ["-O3", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension("frd._kernels", ["frd/_kernels.c"], extra_compile_args=FLAGS),
        Extension("frd._resample", ["frd/_resample.c"], extra_compile_args=FLAGS),
        Extension("frd._log", ["frd/_log.c"], extra_compile_args=FLAGS),
        Extension("frd._wavelet", ["frd/_wavelet.c"], extra_compile_args=FLAGS),
        Extension("frd._power", ["frd/_power.c"], depends=["frd/_power_tables.h"], extra_compile_args=FLAGS),
    ]
)
