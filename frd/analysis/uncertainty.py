"""How certain is an FRD value? Bootstrap confidence intervals and sample-size curves.

Both re-evaluate the whole statistics stage (normalisation fitted again on the resampled
reference, column filter, distance) on the rows already extracted: no re-extraction.
"""

from __future__ import annotations

import numpy as np

from ..options import FRDOptions
from ..results import Analysis
from ..statistics import rows_frd


def _rows(analysis: Analysis):
    if analysis is None or analysis.ref_rows is None or analysis.cand_rows is None:
        raise ValueError(
            "this needs both sets' feature rows in memory (not reference statistics or chunked statistics)"
        )
    return analysis.ref_rows, analysis.cand_rows, analysis.ref_stats.names


def bootstrap_ci(
    analysis: Analysis, options: FRDOptions, *, resamples: int = 200, seed: int = 0, level: float = 0.95, drop=None
) -> dict:
    """Percentile bootstrap CI: images resampled with replacement within each set."""
    ref, cand, names = _rows(analysis)
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for b in range(resamples):
        i = rng.integers(0, len(ref), len(ref))
        j = rng.integers(0, len(cand), len(cand))
        values[b] = rows_frd(ref[i], cand[j], names, options, ndim=analysis.ref_stats.ndim, drop=drop)[0]
    finite = values[np.isfinite(values)]
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (np.nan, np.nan)
    return {
        "low": float(low),
        "high": float(high),
        "level": level,
        "resamples": resamples,
        "method": "percentile bootstrap",
        "seed": seed,
        "std": float(finite.std()) if finite.size else None,
        "non_finite_resamples": int(resamples - finite.size),
    }


def sample_size_curve(
    analysis: Analysis, options: FRDOptions, *, points: int = 6, seeds: int = 5, seed: int = 0
) -> list[dict]:
    """FRD on growing random subsets (same size from both sets), several seeds per size.

    If the curve is still moving at the full size, the sets are too small for a stable value.
    """
    ref, cand, names = _rows(analysis)
    largest = min(len(ref), len(cand))
    sizes = sorted({int(round(x)) for x in np.linspace(min(3, largest), largest, points)})
    rng = np.random.default_rng(seed)
    curve = []
    for size in sizes:
        vals = []
        for _ in range(seeds if size < largest else 1 if len(ref) == len(cand) else seeds):
            i = rng.choice(len(ref), size, replace=False)
            j = rng.choice(len(cand), size, replace=False)
            vals.append(rows_frd(ref[i], cand[j], names, options, ndim=analysis.ref_stats.ndim)[0])
        curve.append(
            {"size": size, "mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": [float(v) for v in vals]}
        )
    return curve
