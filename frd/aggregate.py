"""Statistics accumulated chunk by chunk, for sets too large to hold in one process.

Means and (co)variances are merged in float64 with Chan et al.'s pairwise update —
numerically stable even when a candidate's normalised features sit far from zero — so a
100k-image reference is summarised from blocks of rows read back from the feature cache.
The per-image semantics of v1 stay those of the in-memory path: NaN rows dropped, values
cast to float32 and normalised in float32, non-finite columns dropped. The only
difference is the summation order (float64 here, numpy's float32 pairwise sums there);
``tests/test_aggregate.py`` shows both paths give the same FRD to 1e-6.
"""

from __future__ import annotations

import numpy as np

from .normalize import Normalizer


class ColumnMoments:
    """Per-column count, mean and sum of squared deviations, ignoring NaNs; plus min/max."""

    def __init__(self, width: int):
        self.n = np.zeros(width)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.min = np.full(width, np.nan)
        self.max = np.full(width, np.nan)

    def update(self, chunk: np.ndarray) -> None:
        """Add a block of rows (NaNs skipped per column) to the moments."""
        x = np.asarray(chunk, dtype=np.float64)
        valid = ~np.isnan(x)
        count = valid.sum(axis=0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, np.nansum(x, axis=0) / np.maximum(count, 1), 0.0)
            m2 = np.nansum((x - mean) ** 2, axis=0)
            total = self.n + count
            delta = mean - self.mean
            self.mean = np.where(total > 0, self.mean + delta * count / np.maximum(total, 1), 0.0)
            self.m2 = self.m2 + m2 + delta**2 * self.n * count / np.maximum(total, 1)
        self.n = total
        self.min = np.fmin(self.min, np.nanmin(np.where(valid, x, np.nan), axis=0, initial=np.inf))
        self.max = np.fmax(self.max, np.nanmax(np.where(valid, x, np.nan), axis=0, initial=-np.inf))
        self.min[np.isinf(self.min)] = np.nan
        self.max[np.isinf(self.max)] = np.nan

    def normalizer(self, kind: str, lo: float, hi: float, guarded: bool, dtype) -> Normalizer:
        """The normaliser the in-memory path would fit on all these rows."""
        with np.errstate(invalid="ignore", divide="ignore"):
            empty = self.n == 0
            if kind == "zscore":
                centre = np.where(empty, np.nan, self.mean)
                scale = np.where(empty, np.nan, np.sqrt(self.m2 / np.maximum(self.n, 1)))
            else:
                centre, scale = self.min, self.max
        return Normalizer(kind, centre.astype(dtype), scale.astype(dtype), lo, hi, guarded)


class Moments:
    """Row count, column means and the scatter matrix of the finite columns."""

    def __init__(self, width: int):
        self.n = 0
        self.mean = np.zeros(width)
        self.scatter = np.zeros((width, width))
        self.finite = np.ones(width, dtype=bool)

    def update(self, chunk: np.ndarray) -> None:
        """Add a block of rows to the moments (Chan's parallel update)."""
        x = np.asarray(chunk, dtype=np.float64)
        finite = np.isfinite(x)
        self.finite &= finite.all(axis=0)
        x = np.where(finite, x, 0.0)  # such columns are dropped; keep the others' sums clean
        m = x.shape[0]
        if m == 0:
            return
        mean = x.mean(axis=0)
        centred = x - mean
        scatter = centred.T @ centred
        total = self.n + m
        delta = mean - self.mean
        self.scatter += scatter + np.outer(delta, delta) * (self.n * m / total)
        self.mean += delta * (m / total)
        self.n = total

    def covariance(self) -> np.ndarray:
        """The sample covariance (ddof = 1) of every row seen, as np.cov gives it."""
        return self.scatter / (self.n - 1) if self.n > 1 else np.full_like(self.scatter, np.nan)
