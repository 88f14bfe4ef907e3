"""Per-feature normalisation, exactly as the FRD reference does it.

Normalisation is fitted on a *base* (D1 for v1's default, D1 ∪ D2 for v0's "joint", each
set itself for "independent") and applied column-wise. Two flavours of z-score exist in
the reference: v1's raw ``(x - mean) / std`` with no guard (a zero std gives inf/NaN,
and the caller drops such columns), and a guarded one (zero std → lower bound, NaN →
range midpoint) used elsewhere. Arithmetic stays in the input dtype (float32 for v1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    """A fitted column-wise normalisation: ``kind`` zscore (centre=mean, scale=std) or
    minmax (centre=min, scale=max); ``lo``/``hi`` the target range; ``guarded`` selects
    the guarded z-score (see module docstring)."""

    kind: str
    centre: np.ndarray
    scale: np.ndarray
    lo: float
    hi: float
    guarded: bool

    @classmethod
    def fit(cls, base: np.ndarray, kind: str, lo: float, hi: float, guarded: bool) -> "Normalizer":
        """Fit on ``base`` (rows × features): column mean/std (zscore) or min/max (minmax)."""
        if kind == "zscore":
            centre, scale = np.nanmean(base, axis=0), np.nanstd(base, axis=0)
        elif kind == "minmax":
            centre, scale = np.nanmin(base, axis=0), np.nanmax(base, axis=0)
        else:
            raise ValueError(f"unknown normalisation {kind!r}; use 'zscore' or 'minmax'")
        return cls(kind, centre, scale, float(lo), float(hi), guarded)

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Normalise ``features`` column by column (a copy, in their dtype)."""
        out = np.copy(features)
        width = self.hi - self.lo
        valid = ~(np.isnan(self.centre) | np.isnan(self.scale))  # all-NaN columns stay as they are
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "zscore":
                cols = valid if not self.guarded else valid & (self.scale != 0)
                out[:, cols] = (features[:, cols] - self.centre[cols]) / self.scale[cols] * width + self.lo
                if self.guarded:
                    out[:, valid & (self.scale == 0)] = 0 + self.lo
            else:
                span = self.scale - self.centre
                flat = valid & (span == 0)
                cols = valid & ~flat
                out[:, cols] = (features[:, cols] - self.centre[cols]) / span[cols] * width + self.lo
                out[:, flat] = 0.5 * width + self.lo
        if self.kind == "minmax" or self.guarded:
            out[np.isnan(out)] = (self.lo + self.hi) / 2
        return out
