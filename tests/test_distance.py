"""The Fréchet distance and normalisation stages, against independent computations."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg

from frd import Normalizer, frd_value, frechet_distance, trace_sqrt_product

EPS = np.finfo(np.float64).eps


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
    with pytest.raises(ValueError, match="negative"):
        frd_value(-1e-4, log=True)


# ----- properties, against a 50-digit computation ---------------------------------------
def _high_precision_d2(mu1, s1, mu2, s2) -> float:
    """d² by the textbook route — sqrt(S1)·S2·sqrt(S1), its eigenvalues' square roots —
    in 50-digit arithmetic on the same float64 inputs."""
    with mpmath.workdps(50):
        m1, m2 = mpmath.matrix(s1.tolist()), mpmath.matrix(s2.tolist())
        w, v = mpmath.eigsy(m1)
        root = v * mpmath.diag([mpmath.sqrt(max(x, 0)) for x in w]) * v.T
        inner = root * m2 * root
        trace_sqrt = sum(mpmath.sqrt(max(x, 0)) for x in mpmath.eigsy((inner + inner.T) / 2, eigvals_only=True))
        mean = sum((mpmath.mpf(a) - mpmath.mpf(b)) ** 2 for a, b in zip(mu1, mu2))
        traces = sum(m1[i, i] + m2[i, i] for i in range(m1.rows))
        return float(mean + traces - 2 * trace_sqrt)


@st.composite
def gaussian(draw, p: int):
    """A mean and the covariance of n ≥ 1 random rows: every rank from 0 to p (n ≤ p gives
    rank n − 1, the usual FRD case of fewer images than features)."""
    n = draw(st.integers(1, 2 * p + 1))
    values = st.floats(-50, 50, allow_nan=False, allow_subnormal=False)
    rows = draw(hnp.arrays(np.float64, (n, p), elements=values))
    rows = rows * draw(hnp.arrays(np.float64, p, elements=st.sampled_from([0.0, 1e-3, 1.0, 30.0])))
    sigma = np.cov(rows, rowvar=False).reshape(p, p) if n > 1 else np.zeros((p, p))
    return rows.mean(axis=0), sigma


@st.composite
def two_gaussians(draw):
    p = draw(st.integers(1, 6))
    return (*draw(gaussian(p)), *draw(gaussian(p)))


def _scale(mu1, s1, mu2, s2) -> float:
    return float(np.trace(s1) + np.trace(s2) + mu1 @ mu1 + mu2 @ mu2) or 1.0


@settings(max_examples=150, deadline=None)
@given(two_gaussians())
def test_distance_is_nonnegative_and_agrees_with_50_digits(pair):
    mu1, s1, mu2, s2 = pair
    d2 = frechet_distance(mu1, s1, mu2, s2)
    assert d2 >= 0.0
    # Singular inputs make Tr sqrt(S1·S2) sensitive to round-off of order sqrt(eps): an
    # eigenvalue of 1e-16 in one null space meeting the other's range adds 1e-8.
    assert abs(d2 - _high_precision_d2(mu1, s1, mu2, s2)) <= 4 * len(mu1) * np.sqrt(EPS) * _scale(*pair)


@settings(max_examples=150, deadline=None)
@given(two_gaussians())
def test_distance_is_symmetric(pair):
    mu1, s1, mu2, s2 = pair
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu1, s1), abs=4 * len(mu1) * np.sqrt(EPS) * _scale(*pair)
    )


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8).flatmap(gaussian))
def test_equal_gaussians_are_exactly_zero_whatever_the_rank(g):
    mu, sigma = g
    assert frechet_distance(mu, sigma, mu, sigma) == 0.0
    assert frechet_distance(mu, sigma, mu.copy(), sigma.copy()) == 0.0


def test_identical_sets_with_fewer_images_than_features_give_zero():
    # 10 images of 390 features: the case that used to give d² ≈ −1e-4 and ln(d²) = −inf.
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(10, 390)) * rng.uniform(0.1, 5, 390)
    mu, sigma = rows.mean(axis=0), np.cov(rows, rowvar=False)
    assert trace_sqrt_product(sigma, sigma) == pytest.approx(np.trace(sigma), rel=1e-13)
    assert frechet_distance(mu, sigma, mu, sigma) == 0.0


def test_fixture_sized_case_agrees_with_50_digits_from_the_rows():
    # With rows X (centred), Tr sqrt(S1·S2) is the nuclear norm of X1·X2ᵀ / sqrt((n1−1)(n2−1)):
    # a 10×10 problem computed here in 50 digits, for 300 features and rank-9 covariances.
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=(10, 300)) * rng.uniform(0.1, 3, 300)
    x2 = x1[::-1] * 1.2 + rng.normal(scale=0.5, size=(10, 300))
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    c1, c2 = x1 - mu1, x2 - mu2
    s1, s2 = c1.T @ c1 / 9, c2.T @ c2 / 9
    with mpmath.workdps(50):
        gram = mpmath.matrix((c1 @ c2.T).tolist())
        eig = mpmath.eigsy(gram * gram.T, eigvals_only=True)
        truth = float(sum(mpmath.sqrt(max(e, 0)) for e in eig) / 9)
    assert trace_sqrt_product(s1, s2) == pytest.approx(truth, rel=1e-13)
    with np.errstate(all="ignore"):
        general = np.trace(linalg.sqrtm(s1 @ s2)).real
    # the general square root (the reference's route) is far less accurate here
    assert abs(general - truth) > 100 * abs(trace_sqrt_product(s1, s2) - truth)


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
