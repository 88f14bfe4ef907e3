"""Step 7 and what makes a value trustworthy: from both sets' statistics to an FRDResult.

The distance and the reported value, the split of d² into mean and covariance terms and
per-feature contributions, the warnings about degenerate features and the robust value
without them, the skipped images of both sets and the guards on how many may be skipped.
"""

from __future__ import annotations

import time

import numpy as np

from .contributions import decompose
from .degenerate import NEGLIGIBLE_STD, negligible_std_mask
from .degenerate import warnings_for as degenerate_warnings
from .distance import frd_value, frechet_distance, sqrt_product
from .errors import ExtractionError
from .featureset import check_skipped, require_images
from .intensity import intensity_warnings
from .options import FRDOptions
from .provenance import library_versions
from .results import Analysis, FRDResult
from .statistics import SetStatistics, in_memory_statistics, streaming_statistics
from .stats import ReferenceStats


def score(
    reference,
    candidate,
    options: FRDOptions,
    *,
    cache,
    chunk_rows: int | None,
    labels: tuple[str, str] = ("reference", "candidate"),
    min_candidate: int = 2,
) -> FRDResult:
    """Steps 2–7 on extracted features: an FRDResult with the distance, its split into
    mean and covariance terms and per-feature contributions, the degenerate-feature
    warnings and the robust value; ``reference`` is a FeatureSet or ReferenceStats.

    ``labels`` name the sets in messages; ``min_candidate`` 1 lets one candidate image
    through (out-of-domain screening), whose result then has no distance (NaN).
    """
    t = time.perf_counter()
    ref_stats = reference if isinstance(reference, ReferenceStats) else None
    ref_fs = None if ref_stats is not None else reference
    cand_fs = candidate
    known = ref_fs if ref_fs is not None else ref_stats
    assert known is not None
    _check_dimensions(known.ndim, cand_fs.ndim, ref_fs is None)
    if chunk_rows is not None:
        stats = streaming_statistics(ref_fs, cand_fs, ref_stats, options, cache, chunk_rows)
    else:
        stats = in_memory_statistics(ref_fs, cand_fs, ref_stats, options, labels)
    ref_stats = stats.ref_stats
    skipped = []
    notices = []
    for label, key, fs in ((labels[0], "reference", ref_fs), (labels[1], "candidate", cand_fs)):
        if fs is not None:
            left_out = fs.skipped + stats.dropped[key]
            check_skipped(label, len(fs) + len(fs.skipped), left_out, options)
            skipped += [dict(s.to_dict(), set=label) for s in left_out]
            notices += fs.notices
    require_images(ref_stats.n, labels[0], usable=True)
    require_images(stats.n_candidate, labels[1], min_candidate, usable=True)

    negligible = (
        negligible_std_mask(ref_stats.raw_mean, ref_stats.raw_std, stats.cand_raw_mean, stats.cand_raw_std)
        if ref_stats.raw_mean is not None
        else np.zeros(len(ref_stats.names), dtype=bool)
    )
    pieces = stats.pieces_for(negligible if options.robust else None)
    names, mu1, sigma1, mu2, sigma2 = pieces
    if stats.n_candidate < 2:  # OOD screening of one image: no covariance, no distance
        d2 = value = float("nan")
        contributions, d2_split, warnings, robust = None, {}, [], None
    else:
        root = sqrt_product(sigma1, sigma2)  # once, for the value and for its split per feature
        d2 = float(frechet_distance(mu1, sigma1, mu2, sigma2, means_only=options.means_only, root=root))
        value = frd_value(d2, log=options.rules.log_output, paper_log=options.paper_log)
        contributions = decompose(*pieces, root=root)
        d2_split = {
            "mean_term": float(contributions.mean.sum()),
            "covariance_term": float(contributions.covariance.sum()),
        }
        shares = dict(zip(names, (contributions.total / (contributions.d2 or 1.0)).tolist()))
        warnings = degenerate_warnings(ref_stats.names, negligible, names, shares)
        warnings += intensity_warnings(ref_stats.names, ref_stats.raw_mean, stats.cand_raw_mean, options, labels)
        robust = _robust(stats, pieces, negligible, names, options)

    option_dict = options.to_dict()
    option_dict["seed"] = stats.seed
    return FRDResult(
        value=value,
        d2=d2,
        version=options.version,
        n_reference=ref_stats.n,
        n_candidate=stats.n_candidate,
        features_used=names,
        skipped=skipped,
        options=option_dict,
        versions=library_versions(),
        timings={"statistics_s": time.perf_counter() - t},
        cache={},
        notices=notices,
        ndim=cand_fs.ndim,
        d2_split=d2_split,
        warnings=warnings,
        robust=robust,
        analysis=Analysis(
            ref_stats=ref_stats,
            names=names,
            pieces=pieces,
            contributions=contributions,
            negligible=negligible,
            ref_rows=stats.ref_rows,
            cand_rows=stats.cand_rows,
            ref_items=stats.ref_items,
            cand_items=stats.cand_items,
        ),
    )


def _robust(stats: SetStatistics, pieces, negligible, names, options: FRDOptions) -> dict | None:
    """The value without the features flagged as round-off noise: when asked for, or
    offered whenever a used feature is flagged."""
    ref_names = stats.ref_stats.names
    flagged = [n for n, bad in zip(ref_names, negligible) if bad and n in set(names)]
    if not (options.robust or flagged):
        return None
    _, *r_pieces = pieces if options.robust else stats.pieces_for(negligible)
    r_d2 = frechet_distance(*r_pieces, means_only=options.means_only)
    return {
        "frd": frd_value(r_d2, log=options.rules.log_output, paper_log=options.paper_log),
        "d2": float(r_d2),
        "dropped_features": [n for n, bad in zip(ref_names, negligible) if bad],
        "rule": f"reference std ≤ {NEGLIGIBLE_STD:g} × max(|reference mean|, |candidate mean|, candidate std)",
    }


def _check_dimensions(ref_ndim: int, cand_ndim: int, from_stats: bool) -> None:
    if ref_ndim != cand_ndim:
        what = "reference statistics are" if from_stats else "reference set is"
        raise ExtractionError(
            f"the {what} {ref_ndim}D but the candidate set is {cand_ndim}D; compare 2D and 3D images separately"
        )
