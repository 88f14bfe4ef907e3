"""The FRD pipeline: sets → features → prepared rows → normalised statistics → distance.

:func:`compare` is the library's main entry point (the CLI and the service call it);
:func:`compute_reference_stats` and :func:`extract_features` expose its first stages.
Each stage lives in its own module; this one only orders them as the reference does:

1. extract both sets (one pool, feature cache);
2. drop excluded feature groups;
3. v1: drop images whose vector holds a NaN, cast to float32;
4. optionally subsample the larger set (seeded);
5. fit the normaliser (D1, D1 ∪ D2, or each set itself) and normalise;
6. v1: drop feature columns that are NaN/inf in either normalised set;
7. means, covariances, Fréchet distance; v1 reports ln(d²).
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import FeatureCache
from .distance import frechet_distance, frd_value
from .featureset import ExtractionError, FeatureSet, Skipped, extract_sets
from .provenance import library_versions
from .inputs import SetSource, load_set
from .options import FRDOptions
from .analysis.contributions import decompose
from .analysis.degenerate import NEGLIGIBLE_STD, negligible_std_mask
from .analysis.degenerate import warnings_for as degenerate_warnings
from .stats import ReferenceStats, check_stats_options, fit_normalizer

STATS_SUFFIX = ".frdstats"
# Above this many images in total, statistics are computed from blocks of rows read back
# from the feature cache instead of one in-memory matrix.
STREAM_ABOVE_ROWS = 20_000
DEFAULT_CHUNK_ROWS = 2048


@dataclass
class FRDResult:
    """An FRD value with everything needed to trust and reproduce it."""

    value: float
    d2: float
    version: str
    n_reference: int
    n_candidate: int
    features_used: list[str]
    skipped: list[dict]
    options: dict
    versions: dict
    timings: dict
    cache: dict
    notices: list[str] = field(default_factory=list)
    ndim: int = 2
    d2_split: dict = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    robust: dict | None = None
    ci: dict | None = None
    analysis: "Analysis | None" = field(default=None, repr=False)  # rows etc. for frd.analysis

    def to_dict(self) -> dict:
        return {
            "frd": self.value,
            "d2": self.d2,
            "frd_version": self.version,
            "scale": _scale_label(self.version, self.options.get("paper_log", False)),
            "dimensionality": f"{self.ndim}D",
            "n_reference": self.n_reference,
            "n_candidate": self.n_candidate,
            "n_features": len(self.features_used),
            "features_used": self.features_used,
            "skipped": self.skipped,
            "notices": self.notices,
            "warnings": self.warnings,
            "d2_split": self.d2_split,
            "robust": self.robust,
            "ci": self.ci,
            "options": self.options,
            "versions": self.versions,
            "timings": self.timings,
            "cache": self.cache,
        }

    def __str__(self) -> str:
        return f"FRD ({self.version}): {self.value}"


def _scale_label(version: str, paper_log: bool) -> str:
    if version == "v0":
        return "d2"
    return "ln(d)" if paper_log else "ln(d2)"


@dataclass
class Analysis:
    """What a comparison leaves for analysis: the prepared rows (when held in memory), the
    reference statistics, the d² pieces and contributions, the negligible-std mask."""

    ref_stats: ReferenceStats
    names: list[str]
    pieces: tuple
    contributions: object
    negligible: np.ndarray
    ref_rows: np.ndarray | None = None
    cand_rows: np.ndarray | None = None
    ref_items: list | None = None
    cand_items: list | None = None


@dataclass
class _Statistics:
    ref_stats: ReferenceStats
    pieces_for: object  # drop-mask → (names, mu1, sigma1, mu2, sigma2)
    n_candidate: int
    cand_raw_mean: np.ndarray
    cand_raw_std: np.ndarray
    dropped: dict
    seed: int | None
    ref_rows: np.ndarray | None = None
    cand_rows: np.ndarray | None = None
    ref_items: list | None = None
    cand_items: list | None = None


# ----- stage helpers -------------------------------------------------------------------
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


def prepare_rows(features: FeatureSet, options: FRDOptions) -> tuple[np.ndarray, list[str], list[Skipped]]:
    """Steps 2–3 on a whole set held in memory: (rows, feature names, dropped images)."""
    keep = exclude_columns(list(features.names), options.exclude)
    values, bad = prepare_chunk(features.values, keep, options)
    dropped = [Skipped(item.name, item.files[0], NAN_ROW_REASON)
               for item, b in zip(features.items, bad) if b]
    if values.shape[0] == 0:
        raise ExtractionError("no image is left after dropping images with NaN features")
    return values, [n for n, k in zip(features.names, keep) if k], dropped


def _match_counts(n1: int, n2: int, seed: int):
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


# ----- public API ------------------------------------------------------------------------
def _make_options(options: FRDOptions | None, overrides: dict) -> FRDOptions:
    options = options or FRDOptions()
    return options.with_changes(**overrides) if overrides else options


def _open_cache(use_cache: bool, cache_dir) -> FeatureCache | None:
    return FeatureCache(cache_dir) if use_cache else None


def extract_features(
    source: SetSource,
    masks: SetSource | None = None,
    *,
    options: FRDOptions | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    cache_dir=None,
    progress: bool = True,
    strict: bool = False,
    scheduler=None,
    **overrides,
) -> FeatureSet:
    """Raw per-image features of one set (rows in input order, skipped images reported)."""
    options = _make_options(options, overrides)
    cache = _open_cache(use_cache, cache_dir)
    try:
        return extract_sets([load_set(source, masks)], options, workers=workers, cache=cache,
                            progress=progress, strict=strict, scheduler=scheduler)[0]
    finally:
        if cache is not None:
            cache.close()


def compute_reference_stats(
    reference: SetSource,
    masks: SetSource | None = None,
    *,
    options: FRDOptions | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    cache_dir=None,
    progress: bool = True,
    strict: bool = False,
    scheduler=None,
    **overrides,
) -> ReferenceStats:
    """Statistics of a reference set, reusable with :func:`compare` (save with ``.save``)."""
    options = _make_options(options, overrides)
    check_stats_options(options)
    features = extract_features(reference, masks, options=options, workers=workers, use_cache=use_cache,
                                cache_dir=cache_dir, progress=progress, strict=strict, scheduler=scheduler)
    values, names, _ = prepare_rows(features, options)
    return ReferenceStats.fit(values, names, options, ndim=features.ndim, versions=library_versions())


def compare(
    reference: SetSource | ReferenceStats,
    candidate: SetSource,
    *,
    reference_masks: SetSource | None = None,
    candidate_masks: SetSource | None = None,
    options: FRDOptions | None = None,
    workers: int | None = None,
    use_cache: bool = True,
    cache_dir=None,
    progress: bool = True,
    strict: bool = False,
    on_progress=None,
    scheduler=None,
    chunk_rows: int | None = None,
    **overrides,
) -> FRDResult:
    """FRD between a reference (folder, file list, zip, or stats) and a candidate set.

    Keyword overrides are :class:`~frd.options.FRDOptions` fields, e.g.
    ``compare("real/", "fake/", version="v0")``. ``scheduler`` (a Dask scheduler address
    or Client; default ``$FRD_DASK_ADDRESS``) runs extraction on a Dask cluster; it may
    also be a configured executor from :mod:`frd.executors`.
    ``chunk_rows`` computes the statistics from blocks of that many rows read back from
    the feature cache (automatic above ``STREAM_ABOVE_ROWS`` images), so memory does not
    grow with the set size.
    """
    options = _make_options(options, overrides)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    ref_stats = _as_stats(reference)
    if ref_stats is not None:
        ref_stats.check_compatible(options)
        check_stats_options(options)
    sets = [] if ref_stats is not None else [load_set(reference, reference_masks)]
    sets.append(load_set(candidate, candidate_masks))
    timings["discovery_s"] = time.perf_counter() - t_start

    t = time.perf_counter()
    streaming = chunk_rows is not None or sum(len(s) for s in sets) > STREAM_ABOVE_ROWS
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    scratch = None
    if streaming and not use_cache:
        # Chunked statistics read the vectors back from a cache: use a throw-away one.
        scratch = tempfile.TemporaryDirectory(prefix="frd-rows-")
        cache = FeatureCache(scratch.name)
    else:
        cache = _open_cache(use_cache, cache_dir)
    try:
        feature_sets = extract_sets(sets, options, workers=workers, cache=cache, progress=progress,
                                    strict=strict, on_progress=on_progress, scheduler=scheduler,
                                    keep_values=not streaming)
        timings["extraction_s"] = time.perf_counter() - t

        result = compare_features(ref_stats if ref_stats is not None else feature_sets[0], feature_sets[-1],
                                  options=options, cache=cache, chunk_rows=chunk_rows if streaming else None)
    finally:
        if cache is not None:
            cache.close()
        if scratch is not None:
            scratch.cleanup()
    timings.update(result.timings)
    timings["total_s"] = time.perf_counter() - t_start
    result.timings = {k: round(v, 4) for k, v in timings.items()}
    result.cache = {
        "enabled": use_cache,
        "hits": sum(fs.cache_hits for fs in feature_sets),
        "extracted": sum(fs.extracted for fs in feature_sets),
    }
    return result


def compare_features(
    reference: FeatureSet | ReferenceStats,
    candidate: FeatureSet,
    *,
    options: FRDOptions | None = None,
    cache: FeatureCache | None = None,
    chunk_rows: int | None = None,
    **overrides,
) -> FRDResult:
    """FRD from already extracted features (steps 2–7): for training loops and analysis.

    ``reference`` is a :class:`FeatureSet` or :class:`ReferenceStats`. With ``chunk_rows``
    the rows are read in blocks from ``cache`` (FeatureSets made with ``keep_values=False``).
    """
    options = _make_options(options, overrides)
    t = time.perf_counter()
    ref_stats = reference if isinstance(reference, ReferenceStats) else None
    ref_fs = None if ref_stats is not None else reference
    cand_fs = candidate
    _check_dimensions(ref_fs.ndim if ref_fs else ref_stats.ndim, cand_fs.ndim, ref_fs is None)
    if chunk_rows is not None:
        stats = _streaming_statistics(ref_fs, cand_fs, ref_stats, options, cache, chunk_rows)
    else:
        stats = _in_memory_statistics(ref_fs, cand_fs, ref_stats, options)
    ref_stats = stats.ref_stats
    skipped = []
    notices = []
    for label, fs in (("reference", ref_fs), ("candidate", cand_fs)):
        if fs is not None:
            skipped += [dict(s.to_dict(), set=label) for s in fs.skipped + stats.dropped[label]]
            notices += fs.notices

    negligible = (negligible_std_mask(ref_stats.raw_mean, ref_stats.raw_std, stats.cand_raw_mean,
                                      stats.cand_raw_std)
                  if ref_stats.raw_mean is not None else np.zeros(len(ref_stats.names), dtype=bool))
    pieces = stats.pieces_for(negligible if options.robust else None)
    names, mu1, sigma1, mu2, sigma2 = pieces
    d2 = frechet_distance(mu1, sigma1, mu2, sigma2, means_only=options.means_only)
    value = frd_value(d2, log=options.rules.log_output, paper_log=options.paper_log)
    contributions = decompose(*pieces)
    shares = dict(zip(names, (contributions.total / (contributions.d2 or 1.0)).tolist()))
    warnings = degenerate_warnings(ref_stats.names, negligible, names, shares)
    robust = None
    flagged = [n for n, bad in zip(ref_stats.names, negligible) if bad and n in set(names)]
    if options.robust or flagged:
        r_names, *r_pieces = pieces if options.robust else stats.pieces_for(negligible)
        r_d2 = frechet_distance(*r_pieces, means_only=options.means_only)
        robust = {
            "frd": frd_value(r_d2, log=options.rules.log_output, paper_log=options.paper_log),
            "d2": float(r_d2),
            "dropped_features": [n for n, bad in zip(ref_stats.names, negligible) if bad],
            "rule": f"reference std ≤ {NEGLIGIBLE_STD:g} × max(|reference mean|, |candidate mean|, candidate std)",
        }
    timings = {"statistics_s": time.perf_counter() - t}

    option_dict = options.to_dict()
    option_dict["seed"] = stats.seed
    return FRDResult(
        value=value,
        d2=float(d2),
        version=options.version,
        n_reference=ref_stats.n,
        n_candidate=stats.n_candidate,
        features_used=names,
        skipped=skipped,
        options=option_dict,
        versions=library_versions(),
        timings=timings,
        cache={},
        notices=notices,
        ndim=cand_fs.ndim,
        d2_split={"mean_term": float(contributions.mean.sum()),
                  "covariance_term": float(contributions.covariance.sum())},
        warnings=warnings,
        robust=robust,
        analysis=Analysis(ref_stats=ref_stats, names=names, pieces=pieces, contributions=contributions,
                          negligible=negligible, ref_rows=stats.ref_rows, cand_rows=stats.cand_rows,
                          ref_items=stats.ref_items, cand_items=stats.cand_items),
    )




def _check_dimensions(ref_ndim: int, cand_ndim: int, from_stats: bool) -> None:
    if ref_ndim != cand_ndim:
        what = "reference statistics are" if from_stats else "reference set is"
        raise ExtractionError(f"the {what} {ref_ndim}D but the candidate set is {cand_ndim}D; "
                              "compare 2D and 3D images separately")


def _in_memory_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions) -> _Statistics:
    """Steps 2–6 with every row in memory: the reference's exact float32 arithmetic."""
    cand, cand_names, cand_dropped = prepare_rows(cand_fs, options)
    cand_items = _kept_items(cand_fs, cand_dropped)
    dropped = {"reference": [], "candidate": cand_dropped}
    seed, ref, ref_items = options.seed, None, None
    if ref_stats is None:
        ref, ref_names, dropped["reference"] = prepare_rows(ref_fs, options)
        ref_items = _kept_items(ref_fs, dropped["reference"])
        _check_same_features(ref_names, cand_names)
        if options.match_sample_count:
            seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            i1, i2 = _match_counts(len(ref), len(cand), seed)
            ref, cand = ref[i1], cand[i2]
            ref_items, cand_items = [ref_items[i] for i in i1], [cand_items[i] for i in i2]
        ref_stats, cand_norm = fit_rows(ref, cand, ref_names, options, ndim=ref_fs.ndim)
    else:
        _check_same_features(ref_stats.names, cand_names)
        cand_norm = (fit_normalizer(cand, options) if options.resolved_norm_ref == "independent"
                     else ref_stats.normalizer)
    raw = np.asarray(cand, dtype=np.float64)
    return _Statistics(
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


def rows_frd(ref: np.ndarray, cand: np.ndarray, names: list[str], options: FRDOptions, *, ndim: int = 2,
             drop: np.ndarray | None = None) -> tuple[float, float]:
    """(FRD, d²) of two blocks of prepared rows — what bootstrap and subsampling re-evaluate."""
    ref_stats, cand_norm = fit_rows(ref, cand, names, options, ndim=ndim)
    _, mu1, sigma1, mu2, sigma2 = ref_stats.compare_rows(cand, cand_norm, options, drop)
    d2 = frechet_distance(mu1, sigma1, mu2, sigma2, means_only=options.means_only)
    return frd_value(d2, log=options.rules.log_output, paper_log=options.paper_log), d2


def _kept_items(features: FeatureSet, dropped: list[Skipped]) -> list:
    gone = {d.name for d in dropped}
    return [item for item in features.items if item.name not in gone]


def _streaming_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions, cache, chunk_rows: int) -> _Statistics:
    """Steps 2–6 over blocks of rows (see frd.aggregate); the same rules, bounded memory."""
    from .aggregate import ColumnMoments, Moments

    if options.match_sample_count:
        raise ValueError("match_sample_count needs all rows in memory; it cannot be combined with chunk_rows")
    keep = exclude_columns(list(cand_fs.names), options.exclude)
    names = [n for n, k in zip(cand_fs.names, keep) if k]
    dtype = np.float32 if options.rules.float32_drop_nan_rows else np.float64
    lo, hi = options.resolved_norm_range
    kind, guarded = options.resolved_norm_type, not options.rules.drop_nonfinite_columns
    dropped = {"reference": [], "candidate": []}

    def blocks(fs, label=None):
        offset = 0
        for raw in fs.chunks(cache, chunk_rows):
            rows, bad = prepare_chunk(raw, keep, options)
            if label is not None:
                dropped[label] += [Skipped(fs.items[offset + i].name, fs.items[offset + i].files[0],
                                           NAN_ROW_REASON) for i in np.flatnonzero(bad)]
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
        _check_same_features(list(ref_fs.names), list(cand_fs.names))
        normalizer = fit(ref_fs, cand_fs) if options.resolved_norm_ref == "joint" else fit(ref_fs)
        ref_moments, ref_raw = normalised_moments(ref_fs, normalizer, "reference")
        ref_stats = ReferenceStats.from_moments(ref_moments, ref_moments.n, names, options,
                                                ndim=ref_fs.ndim, normalizer=normalizer, raw=ref_raw)
    else:
        _check_same_features(ref_stats.names, names)
    cand_norm = fit(cand_fs) if options.resolved_norm_ref == "independent" else ref_stats.normalizer
    cand_moments, cand_raw = normalised_moments(cand_fs, cand_norm, "candidate")
    if cand_moments.n == 0 or ref_stats.n == 0:
        raise ExtractionError("no image is left after dropping images with NaN features")
    return _Statistics(
        ref_stats=ref_stats,
        pieces_for=lambda drop: ref_stats.compare_moments(cand_moments, options, drop),
        n_candidate=cand_moments.n,
        cand_raw_mean=cand_raw.mean,
        cand_raw_std=np.sqrt(cand_raw.m2 / np.maximum(cand_raw.n, 1)),
        dropped=dropped,
        seed=options.seed,
    )


def _as_stats(reference) -> ReferenceStats | None:
    if isinstance(reference, ReferenceStats):
        return reference
    if isinstance(reference, (str, Path)) and str(reference).endswith((STATS_SUFFIX, ".npz")):
        if str(reference).endswith(".npz") and not Path(reference).is_file():
            return None
        return ReferenceStats.load(reference)
    return None


def _check_same_features(ref_names: list[str], cand_names: list[str]) -> None:
    if list(ref_names) != list(cand_names):
        missing = sorted(set(ref_names) - set(cand_names))[:5]
        extra = sorted(set(cand_names) - set(ref_names))[:5]
        raise ExtractionError(
            "the two sets do not have the same features "
            f"(only in the reference: {missing or '-'}; only in the candidate: {extra or '-'})"
        )
