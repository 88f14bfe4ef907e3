"""The Fréchet distance and normalisation stages, against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from frd import Normalizer, frd_value, frechet_distance, trace_sqrt_product


def _random_cov(rng, dim, rank=None):
    a = rng.normal(size=(dim, rank or dim))
    return a @ a.T / dim


def test_trace_sqrt_agrees_with_sqrtm_full_rank():
    rng = np.random.default_rng(0)
    s1, s2 = _random_cov(rng, 40), _random_cov(rng, 40)
    expected = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)


def test_trace_sqrt_agrees_with_sqrtm_when_fewer_images_than_features():
    # 10 images, 60 features: both covariances are singular (rank 9).
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(10, 60)), rng.normal(size=(10, 60)) * 1.5
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    with np.errstate(all="ignore"):
        ref = linalg.sqrtm(s1 @ s2)
    expected = np.trace(ref).real
    # The general sqrtm struggles on singular products; agreement is still close.
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-6)


def test_distance_of_identical_gaussians_is_zero_and_known_case():
    rng = np.random.default_rng(2)
    s = _random_cov(rng, 8)
    mu = rng.normal(size=8)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    # Diagonal covariances: d² = |Δmu|² + Σ (sqrt(a) − sqrt(b))².
    a, b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    d2 = frechet_distance([0, 0, 0], a, [1, 2, 2], b)
    assert d2 == pytest.approx(9 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2)
    assert frechet_distance([0, 0, 0], a, [1, 2, 2], b, means_only=True) == pytest.approx(9)


def test_frd_value_scales():
    assert frd_value(np.e**3, log=True) == pytest.approx(3.0)
    assert frd_value(np.e**3, log=True, paper_log=True) == pytest.approx(1.5)
    assert frd_value(12.5, log=False) == 12.5
    assert frd_value(0.0, log=True) == float("-inf")


def test_zscore_unguarded_gives_inf_for_constant_reference_column():
    base = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    norm = Normalizer.fit(base, "zscore", 0.0, 1.0, guarded=False)
    out = norm.apply(np.array([[2.0, 6.0]], dtype=np.float32))
    assert out.dtype == np.float32
    assert out[0, 0] == 0.0 and np.isinf(out[0, 1])
    guarded = Normalizer.fit(base, "zscore", 0.0, 1.0, guarded=True).apply(base)
    assert np.all(guarded[:, 1] == 0.0)


def test_minmax_constant_column_gets_midpoint_and_nan_replaced():
    base = np.array([[0.0, 2.0, np.nan], [10.0, 2.0, 1.0]])
    out = Normalizer.fit(base, "minmax", 0.0, 8.0, guarded=True).apply(base)
    np.testing.assert_allclose(out[:, 0], [0.0, 8.0])
    np.testing.assert_allclose(out[:, 1], [4.0, 4.0])
    assert out[0, 2] == 4.0  # NaN → midpoint
