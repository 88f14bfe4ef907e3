"""``numpy.power(d, 3)`` and ``numpy.power(d, 4)`` bit for bit, faster on negative values.

pyradiomics' skewness and kurtosis raise every voxel's deviation from the mean to the
third and fourth power with ``numpy.power``. On an AVX-512 machine numpy computes float64
powers with Intel's SVML, whose vector algorithm sends every lane with a negative base
to a scalar routine about 30 times slower: half of a CT volume's deviations are
negative, and these two powers took half of the engine's time on a volume. That
routine's results are neither the C library's ``pow`` nor correctly rounded, so the
kernel ``frd._power`` redoes its arithmetic operation for operation (a table-driven
log2 carried in double-double, the product with the exponent, a polynomial 2^x scaled by
a table entry; its tables are generated from their rules by ``tools/gen_power_tables.py``
and checked there against SVML's).

:func:`power` computes ``numpy.power(|d|, y)`` (numpy's own vector path, the same for
each positive lane as in ``numpy.power(d, y)``), then the kernel writes the negative
lanes; the few it does not cover (-0.0, subnormal values, results that overflow or
would be subnormal) are numpy's again. Each process uses the kernel only after checking
that it gives numpy's results there, on values that tell SVML's routine apart from the C
library's ``pow`` and from correct rounding: with another numpy build, or on a CPU where
numpy does not use SVML, numpy computes every power itself.
"""

from __future__ import annotations

import numpy as np

try:
    from . import _power
except ImportError:  # a source tree that was never built: numpy computes
    _power = None

__all__ = ["power", "kernel_matches_numpy"]

_matches: bool | None = None


def _probe() -> np.ndarray:
    """Negative values over many scales (fixed; spread by the golden ratio, without
    numpy.random, whose import would add to every process's start-up), where about 1 in
    700 of SVML's results differs from the C library's and 1 in 1000 from the correctly
    rounded power."""
    spread = 0.5 + (np.arange(2048) * 0.6180339887498949) % 1.0
    scales = np.array([1e-6, 1e-3, 0.7, 1.0, 3.0, 40.0, 1e3, 1e5, 1e6])
    values = -(scales[:, None] * spread[None, :]).ravel()
    edges = -np.ldexp(1.0, np.arange(-60, 61))  # powers of two and their neighbours
    return np.concatenate([values, edges, np.nextafter(edges, 0.0), np.nextafter(edges, -np.inf), [-1.0]])


def kernel_matches_numpy() -> bool:
    """Whether the kernel gives this process's ``numpy.power`` results (checked once)."""
    global _matches
    if _matches is None:
        _matches = False
        if _power is not None:
            x = _probe()
            _matches = all(
                np.array_equal(_power_with_kernel(x, y).view(np.int64), np.power(x, y).view(np.int64)) for y in (3, 4)
            )  # the same bits
    return _matches


def _power_with_kernel(d: np.ndarray, y: int, impl: int = 0) -> np.ndarray:
    out = np.power(np.abs(d), y)  # numpy's, for the lanes without a sign bit
    unhandled = np.empty(d.shape, dtype=np.uint8)
    if _power.pow_neg_int(d, y, out, unhandled, impl):  # the kernel's, for the others
        redo = unhandled.view(bool)
        out[redo] = np.power(d[redo], y)
    return out


def power(d: np.ndarray, y) -> np.ndarray:
    """``numpy.power(d, y)``, through the kernel for a C-contiguous float64 ``d`` and
    ``y`` 3 or 4 where it matches numpy (:func:`kernel_matches_numpy`)."""
    if (
        type(d) is np.ndarray
        and d.dtype == np.float64
        and d.flags.c_contiguous
        and type(y) is int
        and y in (3, 4)
        and d.size
        and kernel_matches_numpy()
    ):
        return _power_with_kernel(d, y)
    return np.power(d, y)
