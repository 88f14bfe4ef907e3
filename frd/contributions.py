"""Splitting d² into per-feature contributions and aggregating them.

    d² = Σ_i (mu1_i − mu2_i)²  +  Σ_i [S1_ii + S2_ii − 2·R_ii]

The mean term is per feature by construction. For the covariance term, R is the
symmetric matrix (S1^½ S2 S1^½)^½, expressed in the features' own coordinates; its trace
is Tr sqrt(S1·S2), so the per-feature contributions add up to d² (up to round-off). It
vanishes feature by feature when S1 = S2; a feature's covariance share can be slightly
negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .distance import sqrt_product


def _root_product_diagonal(a: np.ndarray, b: np.ndarray, root=None) -> np.ndarray:
    u, s = root if root is not None else sqrt_product(a, b)
    return (u * u) @ s  # the diagonal of U·diag(s)·Uᵀ


@dataclass
class Contributions:
    """d² split per feature: mean term, covariance term, standardised mean difference."""

    names: list[str]
    mean: np.ndarray  # per feature, (Δmu)²
    covariance: np.ndarray  # per feature, S1_ii + S2_ii − 2 R_ii
    smd: np.ndarray  # standardised mean difference (normalised mu2 − mu1; z-units of D1 in v1)

    @property
    def total(self) -> np.ndarray:
        """Each feature's share of d² (mean plus covariance term)."""
        return self.mean + self.covariance

    @property
    def d2(self) -> float:
        """The sum of the contributions: d² up to round-off."""
        return float(self.total.sum())

    def top(self, k: int = 20, by: str = "total") -> list[dict]:
        """The ``k`` features contributing most (``by`` total or absolute standardised difference)."""
        values = {"total": self.total, "smd": np.abs(self.smd)}[by]
        order = np.argsort(-values)[:k]
        d2 = self.d2 or 1.0
        return [
            {
                "feature": self.names[i],
                "smd": float(self.smd[i]),
                "mean_term": float(self.mean[i]),
                "covariance_term": float(self.covariance[i]),
                "share_of_d2": float(self.total[i] / d2),
            }
            for i in order
        ]

    def by_group(self, key) -> dict[str, dict]:
        """Contributions summed per group of features (``key(name)``: a class or a filter)."""
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            groups.setdefault(key(name), []).append(i)
        d2 = self.d2 or 1.0
        return {
            g: {
                "mean_term": float(self.mean[idx].sum()),
                "covariance_term": float(self.covariance[idx].sum()),
                "share_of_d2": float(self.total[idx].sum() / d2),
                "n_features": len(idx),
            }
            for g, idx in sorted(groups.items())
        }

    def summary(self, top: int = 10) -> dict:
        """The JSON form: d² per feature class and per filter, and the top features."""
        return {
            "by_class": self.by_group(feature_class),
            "by_filter": self.by_group(image_filter),
            "top_features": self.top(top),
        }


def decompose(names, mu1, sigma1, mu2, sigma2, *, root=None) -> Contributions:
    """The per-feature split of d² for the pieces (names, mu1, sigma1, mu2, sigma2);
    ``root`` is ``sqrt_product(sigma1, sigma2)`` if the caller has it already."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    r = _root_product_diagonal(s1, s2, root)
    return Contributions(
        names=list(names), mean=(mu1 - mu2) ** 2, covariance=np.diag(s1) + np.diag(s2) - 2 * r, smd=mu2 - mu1
    )


_NAME = re.compile(r"^(?P<filter>[^_]+)_(?P<cls>[^_]+)_(?P<feature>.+)$")


def feature_class(name: str) -> str:
    """firstorder, glcm, glrlm, glszm, gldm, ngtdm, shape… or diagnostics."""
    if name.startswith("diagnostics"):
        return "diagnostics"
    parts = name.split("_")
    if len(parts) == 2:  # "original_" was stripped: class_feature
        return parts[0]
    match = _NAME.match(name)
    return match.group("cls") if match else "other"


def image_filter(name: str) -> str:
    """original, log-sigma-3-0-mm(-3D), wavelet-LLH… or diagnostics."""
    if name.startswith("diagnostics"):
        return "diagnostics"
    parts = name.split("_")
    if len(parts) == 2:
        return "original"
    return parts[0]
