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
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .cache import FeatureCache
from .distance import frechet_distance, frd_value
from .errors import ExtractionError, InputError, OptionError
from .featureset import FeatureSet, Skipped, extract_sets
from .provenance import library_versions
from .results import Analysis, FRDResult
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


def prepare_rows(features: FeatureSet, options: FRDOptions,
                 label: str = "image") -> tuple[np.ndarray, list[str], list[Skipped]]:
    """Steps 2–3 on a whole set held in memory: (rows, feature names, dropped images)."""
    keep = exclude_columns(list(features.names), options.exclude)
    values, bad = prepare_chunk(features.values, keep, options)
    dropped = [Skipped(item.name, item.files[0], NAN_ROW_REASON)
               for item, b in zip(features.items, bad) if b]
    if values.shape[0] == 0:
        raise ExtractionError(f"the {label} set has no usable image: every one's features hold NaN values")
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
    known = {f.name for f in fields(FRDOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OptionError(unknown[0], f"is not an FRD option (the options are: {', '.join(sorted(known))})")
    return options.with_changes(**overrides) if overrides else options


def _require_images(count: int, label: str, minimum: int = 2, *, usable: bool = False) -> None:
    """A set needs two images for a covariance: checked on discovery, before any work, and
    again on the images left after skipping (``usable``)."""
    if count < minimum:
        what = "usable image" if usable else "image"
        raise ExtractionError(f"the {label} set has {count} {what}{'s' if count != 1 else ''}; "
                              f"FRD needs at least {minimum}")


def _check_skipped(label: str, total: int, skipped: list[Skipped], options: FRDOptions) -> None:
    """Refuse a silent subset: more than ``options.max_skipped`` of a set left out."""
    if total and len(skipped) / total > options.max_skipped:
        listed = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        raise OptionError("max_skipped", (
            f"allows {options.max_skipped:.0%} of a set to be skipped, but {len(skipped)} of {total} images "
            f"of the {label} set were ({listed}{more}); fix or remove those files, or raise {{option:max_skipped}}"))


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
    _label: str = "input",
    **overrides,
) -> FeatureSet:
    """Raw per-image features of one set (rows in input order, skipped images reported)."""
    options = _make_options(options, overrides)
    items = load_set(source, masks)
    cache = _open_cache(use_cache, cache_dir)
    try:
        features = extract_sets([items], options, workers=workers, cache=cache, progress=progress,
                                strict=strict, scheduler=scheduler, labels=(_label,))[0]
    finally:
        if cache is not None:
            cache.close()
    _check_skipped(_label, len(items), features.skipped, options)
    return features


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
                                cache_dir=cache_dir, progress=progress, strict=strict, scheduler=scheduler,
                                _label="reference")
    values, names, dropped = prepare_rows(features, options, "reference")
    _check_skipped("reference", len(features) + len(features.skipped), features.skipped + dropped, options)
    _require_images(len(values), "reference", usable=True)
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
    return _compare_sets(reference, candidate, reference_masks=reference_masks, candidate_masks=candidate_masks,
                         options=_make_options(options, overrides), workers=workers, use_cache=use_cache,
                         cache_dir=cache_dir, progress=progress, strict=strict, on_progress=on_progress,
                         scheduler=scheduler, chunk_rows=chunk_rows)


def _compare_sets(reference, candidate, *, reference_masks, candidate_masks, options: FRDOptions, workers,
                  use_cache: bool, cache_dir, progress: bool, strict: bool, on_progress, scheduler,
                  chunk_rows: int | None, labels: tuple[str, str] = ("reference", "candidate"),
                  min_candidate: int = 2) -> FRDResult:
    """compare(), also for OOD screening (``labels`` reference/test; ``min_candidate`` 1:
    one test image has no covariance, and no FRD, but an out-of-domain score)."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int)
                                   or chunk_rows < 1):
        raise OptionError("chunk_rows", f"must be a whole number of at least 1, not {chunk_rows!r}")

    ref_stats = _as_stats(reference, labels[0])
    if ref_stats is not None:
        ref_stats.check_compatible(options)
        check_stats_options(options)
    sets = [] if ref_stats is not None else [load_set(reference, reference_masks)]
    if _is_stats_path(candidate):
        raise InputError(f"{candidate}: reference statistics can only be the {labels[0]}; the {labels[1]} must be "
                         "images (a folder, a .zip, or image files)")
    sets.append(load_set(candidate, candidate_masks))
    if ref_stats is None:
        _require_images(len(sets[0]), labels[0])
    _require_images(len(sets[-1]), labels[1], min_candidate)
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
                                    keep_values=not streaming, labels=labels[-len(sets):])
        timings["extraction_s"] = time.perf_counter() - t

        result = _result(ref_stats if ref_stats is not None else feature_sets[0], feature_sets[-1],
                         options, cache=cache, chunk_rows=chunk_rows if streaming else None, labels=labels,
                         min_candidate=min_candidate)
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
    return _result(reference, candidate, _make_options(options, overrides), cache=cache, chunk_rows=chunk_rows)


def _result(reference, candidate, options: FRDOptions, *, cache, chunk_rows: int | None,
            labels: tuple[str, str] = ("reference", "candidate"), min_candidate: int = 2) -> FRDResult:
    t = time.perf_counter()
    ref_stats = reference if isinstance(reference, ReferenceStats) else None
    ref_fs = None if ref_stats is not None else reference
    cand_fs = candidate
    _check_dimensions(ref_fs.ndim if ref_fs else ref_stats.ndim, cand_fs.ndim, ref_fs is None)
    if chunk_rows is not None:
        stats = _streaming_statistics(ref_fs, cand_fs, ref_stats, options, cache, chunk_rows)
    else:
        stats = _in_memory_statistics(ref_fs, cand_fs, ref_stats, options, labels)
    ref_stats = stats.ref_stats
    skipped = []
    notices = []
    for label, key, fs in ((labels[0], "reference", ref_fs), (labels[1], "candidate", cand_fs)):
        if fs is not None:
            left_out = fs.skipped + stats.dropped[key]
            _check_skipped(label, len(fs) + len(fs.skipped), left_out, options)
            skipped += [dict(s.to_dict(), set=label) for s in left_out]
            notices += fs.notices
    _require_images(ref_stats.n, labels[0], usable=True)
    _require_images(stats.n_candidate, labels[1], min_candidate, usable=True)

    negligible = (negligible_std_mask(ref_stats.raw_mean, ref_stats.raw_std, stats.cand_raw_mean,
                                      stats.cand_raw_std)
                  if ref_stats.raw_mean is not None else np.zeros(len(ref_stats.names), dtype=bool))
    pieces = stats.pieces_for(negligible if options.robust else None)
    names, mu1, sigma1, mu2, sigma2 = pieces
    if stats.n_candidate < 2:  # OOD screening of one image: no covariance, no distance
        return _without_distance(stats, names, pieces, negligible, skipped, notices, options, cand_fs.ndim, t)
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




def _without_distance(stats: _Statistics, names, pieces, negligible, skipped, notices, options: FRDOptions,
                      ndim: int, started: float) -> FRDResult:
    """A result for a one-image candidate (OOD screening): its rows, but no distance."""
    option_dict = options.to_dict()
    option_dict["seed"] = stats.seed
    nan = float("nan")
    return FRDResult(
        value=nan, d2=nan, version=options.version, n_reference=stats.ref_stats.n, n_candidate=stats.n_candidate,
        features_used=names, skipped=skipped, options=option_dict, versions=library_versions(),
        timings={"statistics_s": time.perf_counter() - started}, cache={}, notices=notices, ndim=ndim,
        analysis=Analysis(ref_stats=stats.ref_stats, names=names, pieces=pieces, contributions=None,
                          negligible=negligible, ref_rows=stats.ref_rows, cand_rows=stats.cand_rows,
                          ref_items=stats.ref_items, cand_items=stats.cand_items),
    )


def _check_dimensions(ref_ndim: int, cand_ndim: int, from_stats: bool) -> None:
    if ref_ndim != cand_ndim:
        what = "reference statistics are" if from_stats else "reference set is"
        raise ExtractionError(f"the {what} {ref_ndim}D but the candidate set is {cand_ndim}D; "
                              "compare 2D and 3D images separately")


def _in_memory_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions,
                          labels: tuple[str, str] = ("reference", "candidate")) -> _Statistics:
    """Steps 2–6 with every row in memory: the reference's exact float32 arithmetic."""
    cand, cand_names, cand_dropped = prepare_rows(cand_fs, options, labels[1])
    cand_items = _kept_items(cand_fs, cand_dropped)
    dropped = {"reference": [], "candidate": cand_dropped}
    seed, ref, ref_items = options.seed, None, None
    if ref_stats is None:
        ref, ref_names, dropped["reference"] = prepare_rows(ref_fs, options, labels[0])
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
    for label, n in (("reference", ref_stats.n), ("candidate", cand_moments.n)):
        if n == 0:
            raise ExtractionError(f"the {label} set has no usable image: every one's features hold NaN values")
    return _Statistics(
        ref_stats=ref_stats,
        pieces_for=lambda drop: ref_stats.compare_moments(cand_moments, options, drop),
        n_candidate=cand_moments.n,
        cand_raw_mean=cand_raw.mean,
        cand_raw_std=np.sqrt(cand_raw.m2 / np.maximum(cand_raw.n, 1)),
        dropped=dropped,
        seed=options.seed,
    )


def _is_stats_path(source) -> bool:
    return isinstance(source, (str, Path)) and str(source).lower().endswith((STATS_SUFFIX, ".npz"))


def _as_stats(reference, label: str = "reference") -> ReferenceStats | None:
    """The reference as statistics when it is a ReferenceStats or a statistics file."""
    if isinstance(reference, ReferenceStats):
        return reference
    if not _is_stats_path(reference):
        return None
    if str(reference).lower().endswith(".npz"):
        # frd-score's .npz holds only mu and sigma: not enough for D1-referenced normalisation.
        raise InputError(f"{reference}: a .npz of frd-score cannot serve as the {label}: it lacks the "
                         "raw feature means and deviations that v1's normalisation needs; make an "
                         f"frd statistics file with `frd stats` (.frdstats), or give the {label} images")
    return ReferenceStats.load(reference)


def _check_same_features(ref_names: list[str], cand_names: list[str]) -> None:
    if list(ref_names) != list(cand_names):
        missing = sorted(set(ref_names) - set(cand_names))[:5]
        extra = sorted(set(cand_names) - set(ref_names))[:5]
        raise ExtractionError(
            "the two sets do not have the same features "
            f"(only in the reference: {missing or '-'}; only in the candidate: {extra or '-'})"
        )
