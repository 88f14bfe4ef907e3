"""Steps 5–6 of the pipeline: the normalised statistics of both sets.

Two paths give the same numbers: :func:`in_memory_statistics` with every prepared row in
memory (the reference's exact float32 arithmetic; the rows stay available for analysis),
and :func:`streaming_statistics` over blocks of rows read back from the feature cache
(moments merged with Chan's update, see :mod:`frd.aggregate`), for sets too large to hold.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .distance import frd_value, frechet_distance
from .errors import ExtractionError
from .featureset import FeatureSet, Skipped
from .options import FRDOptions
from .rows import NAN_ROW_REASON, exclude_columns, match_counts, prepare_chunk, prepare_rows
from .stats import ReferenceStats, fit_normalizer


@dataclass
class SetStatistics:
    """Both sets' statistics after steps 2–6: D1's (as ReferenceStats) and what the
    candidate contributes; ``pieces_for(drop)`` gives (names, mu1, sigma1, mu2, sigma2)
    with the ``drop`` columns (the robust variant's) left out."""

    ref_stats: ReferenceStats
    pieces_for: Callable[[np.ndarray | None], tuple]  # drop-mask → (names, mu1, sigma1, mu2, sigma2)
    n_candidate: int
    cand_raw_mean: np.ndarray
    cand_raw_std: np.ndarray
    dropped: dict
    seed: int | None
    ref_rows: np.ndarray | None = None
    cand_rows: np.ndarray | None = None
    ref_items: list | None = None
    cand_items: list | None = None


def in_memory_statistics(
    ref_fs, cand_fs, ref_stats, options: FRDOptions, labels: tuple[str, str] = ("reference", "candidate")
) -> SetStatistics:
    """Steps 2–6 with every row in memory: the reference's exact float32 arithmetic."""
    cand, cand_names, cand_dropped = prepare_rows(cand_fs, options, labels[1])
    cand_items = kept_items(cand_fs, cand_dropped)
    dropped = {"reference": [], "candidate": cand_dropped}
    seed, ref, ref_items = options.seed, None, None
    if ref_stats is None:
        ref, ref_names, dropped["reference"] = prepare_rows(ref_fs, options, labels[0])
        ref_items = kept_items(ref_fs, dropped["reference"])
        check_same_features(ref_names, cand_names)
        if options.match_sample_count:
            seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            i1, i2 = match_counts(len(ref), len(cand), seed)
            ref, cand = ref[i1], cand[i2]
            ref_items, cand_items = [ref_items[i] for i in i1], [cand_items[i] for i in i2]
        ref_stats, cand_norm = fit_rows(ref, cand, ref_names, options, ndim=ref_fs.ndim)
    else:
        check_same_features(ref_stats.names, cand_names)
        cand_norm = (
            fit_normalizer(cand, options) if options.resolved_norm_ref == "independent" else ref_stats.normalizer
        )
    raw = np.asarray(cand, dtype=np.float64)
    return SetStatistics(
        ref_stats=ref_stats,
        pieces_for=lambda drop: ref_stats.compare_rows(cand, cand_norm, options, drop),
        n_candidate=int(cand.shape[0]),
        cand_raw_mean=np.nanmean(raw, axis=0),
        cand_raw_std=np.nanstd(raw, axis=0),
        dropped=dropped,
        seed=seed,
        ref_rows=ref,
        cand_rows=cand,
        ref_items=ref_items,
        cand_items=cand_items,
    )


def fit_rows(ref: np.ndarray, cand: np.ndarray, names: list[str], options: FRDOptions, *, ndim: int):
    """Steps 5–6 on prepared rows: D1's statistics and the normaliser for the candidate."""
    base = np.concatenate([ref, cand]) if options.resolved_norm_ref == "joint" else ref
    ref_stats = ReferenceStats.fit(ref, names, options, ndim=ndim, normalizer=fit_normalizer(base, options))
    cand_norm = fit_normalizer(cand, options) if options.resolved_norm_ref == "independent" else ref_stats.normalizer
    return ref_stats, cand_norm


def rows_frd(
    ref: np.ndarray,
    cand: np.ndarray,
    names: list[str],
    options: FRDOptions,
    *,
    ndim: int = 2,
    drop: np.ndarray | None = None,
) -> tuple[float, float]:
    """(FRD, d²) of two blocks of prepared rows — what bootstrap and subsampling re-evaluate."""
    ref_stats, cand_norm = fit_rows(ref, cand, names, options, ndim=ndim)
    _, mu1, sigma1, mu2, sigma2 = ref_stats.compare_rows(cand, cand_norm, options, drop)
    d2 = frechet_distance(mu1, sigma1, mu2, sigma2, means_only=options.means_only)
    return frd_value(d2, log=options.rules.log_output, paper_log=options.paper_log), d2


def kept_items(features: FeatureSet, dropped: list[Skipped]) -> list:
    """The items of ``features`` that were not ``dropped`` (in order)."""
    gone = {d.name for d in dropped}
    return [item for item in features.items if item.name not in gone]


def streaming_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions, cache, chunk_rows: int) -> SetStatistics:
    """Steps 2–6 over blocks of rows (see frd.aggregate); the same rules, bounded memory."""
    from .aggregate import ColumnMoments, Moments

    if options.match_sample_count:
        raise ValueError("match_sample_count needs all rows in memory; it cannot be combined with chunk_rows")
    keep = exclude_columns(list(cand_fs.names), options.exclude)
    names = [n for n, k in zip(cand_fs.names, keep) if k]
    dtype = np.float32 if options.rules.float32_drop_nan_rows else np.float64
    lo, hi = options.resolved_norm_range
    kind, guarded = options.resolved_norm_type, not options.rules.drop_nonfinite_columns
    dropped: dict[str, list[Skipped]] = {"reference": [], "candidate": []}

    def blocks(fs, label=None):
        offset = 0
        for raw in fs.chunks(cache, chunk_rows):
            rows, bad = prepare_chunk(raw, keep, options)
            if label is not None:
                dropped[label] += [
                    Skipped(fs.items[offset + i].name, fs.items[offset + i].files[0], NAN_ROW_REASON)
                    for i in np.flatnonzero(bad)
                ]
            offset += raw.shape[0]
            yield rows

    def fit(*sets):
        moments = ColumnMoments(len(names))
        for fs in sets:
            for rows in blocks(fs):
                moments.update(rows)
        return moments.normalizer(kind, lo, hi, guarded, dtype)

    def normalised_moments(fs, normalizer, label):
        moments, raw = Moments(len(names)), ColumnMoments(len(names))
        for rows in blocks(fs, label):
            raw.update(rows)
            moments.update(normalizer.apply(rows))
        return moments, raw

    if ref_stats is None:
        check_same_features(list(ref_fs.names), list(cand_fs.names))
        normalizer = fit(ref_fs, cand_fs) if options.resolved_norm_ref == "joint" else fit(ref_fs)
        ref_moments, ref_raw = normalised_moments(ref_fs, normalizer, "reference")
        ref_stats = ReferenceStats.from_moments(
            ref_moments, ref_moments.n, names, options, ndim=ref_fs.ndim, normalizer=normalizer, raw=ref_raw
        )
    else:
        check_same_features(ref_stats.names, names)
    cand_norm = fit(cand_fs) if options.resolved_norm_ref == "independent" else ref_stats.normalizer
    cand_moments, cand_raw = normalised_moments(cand_fs, cand_norm, "candidate")
    for label, n in (("reference", ref_stats.n), ("candidate", cand_moments.n)):
        if n == 0:
            raise ExtractionError(f"the {label} set has no usable image: every one's features hold NaN values")
    return SetStatistics(
        ref_stats=ref_stats,
        pieces_for=lambda drop: ref_stats.compare_moments(cand_moments, options, drop),
        n_candidate=cand_moments.n,
        cand_raw_mean=cand_raw.mean,
        cand_raw_std=np.sqrt(cand_raw.m2 / np.maximum(cand_raw.n, 1)),
        dropped=dropped,
        seed=options.seed,
    )


def check_same_features(ref_names: list[str], cand_names: list[str]) -> None:
    """Refuse two sets whose feature vectors differ (naming a few on each side)."""
    if list(ref_names) != list(cand_names):
        missing = sorted(set(ref_names) - set(cand_names))[:5]
        extra = sorted(set(cand_names) - set(ref_names))[:5]
        raise ExtractionError(
            "the two sets do not have the same features "
            f"(only in the reference: {missing or '-'}; only in the candidate: {extra or '-'})"
        )
