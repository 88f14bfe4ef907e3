"""frd.power: numpy.power(d, 3) and numpy.power(d, 4), bit for bit.

The kernel redoes the arithmetic of the scalar routine numpy's SVML power uses for
negative bases; frd.power uses it only where it gives this process's numpy results. Every
value here is compared with numpy's own, as int64 bit patterns (NaN payloads included).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from frd import power as fp


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def _specials() -> np.ndarray:
    tiny = np.finfo(np.float64).tiny
    values = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan, tiny, -tiny, tiny / 3, -tiny / 3]
    values += [5e-324, -5e-324, 1e-103, -1e-103, 1e-110, -1e-110, 1e102, -1e102, 1e103, -1e103]
    values += [-1.7976931348623157e308, -(2.0**-341), -(2.0**-342), -(2.0**341), -(2.0**342)]
    values += list(-np.nextafter(1.0, [0.0, 2.0])) + [-np.nextafter(-1.0, 0.0)]
    return np.array(values)


def _cases():
    rng = np.random.default_rng(7)
    yield "normal", rng.normal(0.0, 40.0, 400_000)
    yield "wide", rng.normal(0.0, 1.0, 200_000) * 10.0 ** rng.uniform(-8, 8, 200_000)
    yield "integers", rng.integers(-300, 300, 100_000).astype(np.float64)
    # random bit patterns over every exponent: overflow, subnormal results, inf and NaN
    yield "bits", rng.integers(0, 2**63, 200_000, dtype=np.int64).view(np.float64) * rng.choice([-1.0, 1.0], 200_000)
    yield "specials", _specials()
    for n in range(0, 20):  # the vector loop's tail
        yield f"length {n}", rng.normal(0.0, 3.0, n)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow and NaN, as numpy warns
@pytest.mark.parametrize("y", [3, 4])
def test_power_is_numpys_to_the_bit(y):
    for name, d in _cases():
        expected = np.power(d, y)
        assert _same_bits(fp.power(d, y), expected), name
        if fp._power is not None and d.size:
            for impl in (0, 1):  # AVX-512 and the portable scalar code
                assert _same_bits(fp._power_with_kernel(d, y, impl), expected), (name, impl)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_other_arguments_are_numpys():
    d = np.random.default_rng(8).normal(0.0, 5.0, 1000)
    for y in (2, 5, 3.0, 0.5):
        assert _same_bits(fp.power(d, y), np.power(d, y)), y
    strided = d[::2]
    assert _same_bits(fp.power(strided, 3), np.power(strided, 3))
    single = d.astype(np.float32)
    np.testing.assert_array_equal(fp.power(single, 3), np.power(single, 3))


def test_the_probe_tells_svml_from_other_powers():
    # The probe holds values where SVML's routine differs from the C library's pow and from
    # the correctly rounded cube: a numpy computing powers another way is told apart, and
    # then numpy computes every power (frd.power.kernel_matches_numpy is False).
    probe = fp._probe()
    negatives = probe[(probe < 0) & (np.abs(probe) > 1e-100) & (np.abs(probe) < 1e100)]
    numpy_cubes = np.power(negatives, 3)
    libm = np.array([math.pow(v, 3) for v in negatives])
    rounded = np.array([float(Fraction(v) ** 3) for v in negatives[:4000]])
    numpy_is_libm = _same_bits(numpy_cubes, libm)
    numpy_is_rounded = _same_bits(numpy_cubes[:4000], rounded)
    kernel = fp._power_with_kernel(negatives, 3) if fp._power is not None else None
    if fp.kernel_matches_numpy():
        # numpy is SVML here: the probe shows it is neither of the others
        assert not numpy_is_libm and not numpy_is_rounded
    # the kernel itself is SVML's routine, whatever numpy does here
    if kernel is not None:
        assert not _same_bits(kernel, libm)
        assert not _same_bits(kernel[:4000], rounded)


def test_without_the_kernel_numpy_computes(monkeypatch):
    monkeypatch.setattr(fp, "_power", None)
    monkeypatch.setattr(fp, "_matches", None)
    assert fp.kernel_matches_numpy() is False
    d = np.random.default_rng(9).normal(0.0, 5.0, 100)
    assert _same_bits(fp.power(d, 3), np.power(d, 3))
