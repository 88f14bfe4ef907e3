"""The Fréchet distance between two Gaussians, computed stably.

    d² = |mu1 − mu2|² + Tr(S1) + Tr(S2) − 2·Tr(sqrt(S1·S2))

Tr(sqrt(S1·S2)) is the sum of the square roots of the eigenvalues of S1·S2, which are
those of the symmetric positive semi-definite matrix sqrt(S1)·S2·sqrt(S1). Computing
them with a symmetric eigensolver avoids the general matrix square root (scipy's
``sqrtm``) of the reference: no complex round-off, no retry with a diagonal offset, and
it stays correct when there are fewer images than features (singular covariances).
"""

from __future__ import annotations

import numpy as np


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr(sqrt(sigma1 · sigma2)) for covariance matrices (symmetric PSD)."""
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    inner = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, means_only: bool = False) -> float:
    """Squared Fréchet distance d² between N(mu1, sigma1) and N(mu2, sigma2).

    With ``means_only`` only the mean term |mu1 − mu2|² is returned.
    """
    diff = np.atleast_1d(np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64))
    mean_term = float(diff @ diff)
    if means_only:
        return mean_term
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if sigma1.shape != sigma2.shape or sigma1.shape[0] != diff.shape[0]:
        raise ValueError(f"shape mismatch: mu {diff.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}")
    return mean_term + float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * trace_sqrt_product(sigma1, sigma2)


def frd_value(d2: float, *, log: bool, paper_log: bool = False) -> float:
    """The reported number: ln(d²) for v1 (ln(d) with ``paper_log``), raw d² for v0."""
    if not log:
        return float(d2)
    if d2 <= 0:
        return float("-inf")
    return float(0.5 * np.log(d2) if paper_log else np.log(d2))
