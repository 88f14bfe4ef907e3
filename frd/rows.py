"""Steps 2–4 of the pipeline on feature rows: excluded feature groups removed, (v1) rows
holding a NaN dropped and the rest cast to float32, and the larger set optionally
subsampled to the smaller one's size — each exactly as the reference does it."""

from __future__ import annotations

import numpy as np

from .errors import ExtractionError
from .featureset import FeatureSet, Skipped
from .options import FRDOptions


def exclude_columns(names: list[str], groups) -> np.ndarray:
    """Boolean mask of the columns kept after excluding feature ``groups``.

    Matches the reference's rules name for name, including its quirk that "textural"
    only recognises unfiltered texture features (``glcm_…``, not ``wavelet-LLH_glcm_…``).
    """
    keep = np.ones(len(names), dtype=bool)
    for i, name in enumerate(names):
        parts = name.split("_")
        for group in groups:
            if group == "textural" and len(parts) >= 2:
                token = parts[0].split("-")[-1]
                if token.startswith("gl") or token == "ngtdm":
                    keep[i] = False
            elif group == "wavelet" and name.startswith("wavelet"):
                keep[i] = False
            elif group == "firstorder" and "firstorder" in name:
                keep[i] = False
            elif group == "shape" and len(parts) >= 2:
                if any(p.split("-")[-1] in ("shape", "shape2D") for p in parts[:-1]):
                    keep[i] = False
    return keep


NAN_ROW_REASON = "its feature vector holds NaN values"


def prepare_chunk(values: np.ndarray, keep_columns: np.ndarray, options: FRDOptions):
    """Steps 2–3 on a block of rows: excluded columns removed; for v1, rows holding a NaN
    dropped and the rest cast to float32. Returns (rows, mask of the dropped rows)."""
    values = values[:, keep_columns]
    if not options.rules.float32_drop_nan_rows:
        return values, np.zeros(values.shape[0], dtype=bool)
    bad = np.isnan(values).any(axis=1)
    return values[~bad].astype(np.float32), bad


def prepare_rows(
    features: FeatureSet, options: FRDOptions, label: str = "image"
) -> tuple[np.ndarray, list[str], list[Skipped]]:
    """Steps 2–3 on a whole set held in memory: (rows, feature names, dropped images)."""
    keep = exclude_columns(list(features.names), options.exclude)
    values, bad = prepare_chunk(features.matrix, keep, options)
    dropped = [Skipped(item.name, item.files[0], NAN_ROW_REASON) for item, b in zip(features.items, bad) if b]
    if values.shape[0] == 0:
        raise ExtractionError(f"the {label} set has no usable image: every one's features hold NaN values")
    return values, [n for n, k in zip(features.names, keep) if k], dropped


def match_counts(n1: int, n2: int, seed: int):
    """Row indices that subsample the larger set to the smaller one's size.

    RandomState(seed).choice draws what the reference draws after np.random.seed(seed).
    """
    rng = np.random.RandomState(seed)
    i1, i2 = np.arange(n1), np.arange(n2)
    if n1 > n2:
        i1 = rng.choice(n1, n2, replace=False)
    elif n2 > n1:
        i2 = rng.choice(n2, n1, replace=False)
    return i1, i2
