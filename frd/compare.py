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
from .stats import ReferenceStats, StatsMismatch, fit_normalizer

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


def _match_counts(d1: np.ndarray, d2: np.ndarray, seed: int):
    # RandomState(seed).choice draws what the reference draws after np.random.seed(seed).
    rng = np.random.RandomState(seed)
    if d1.shape[0] > d2.shape[0]:
        d1 = d1[rng.choice(d1.shape[0], d2.shape[0], replace=False)]
    elif d2.shape[0] > d1.shape[0]:
        d2 = d2[rng.choice(d2.shape[0], d1.shape[0], replace=False)]
    return d1, d2


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
    if options.resolved_norm_ref == "joint":
        raise StatsMismatch(
            "joint normalisation depends on the candidate set, so reference statistics cannot "
            "hold it; use norm_ref 'd1' (the v1 default) or 'independent'"
        )
    if options.match_sample_count:
        raise StatsMismatch("match_sample_count needs both sets' images; it cannot be used with stats")
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
    or Client; default ``$FRD_DASK_ADDRESS``) runs extraction on a Dask cluster.
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
        if options.resolved_norm_ref == "joint" or options.match_sample_count:
            raise StatsMismatch("joint normalisation and match_sample_count need the reference images, "
                                "not statistics")
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

        t = time.perf_counter()
        cand_fs = feature_sets[-1]
        ref_fs = feature_sets[0] if ref_stats is None else None
        _check_dimensions(ref_fs.ndim if ref_fs else ref_stats.ndim, cand_fs.ndim, ref_fs is None)
        if streaming:
            stats = _streaming_statistics(ref_fs, cand_fs, ref_stats, options, cache, chunk_rows)
        else:
            stats = _in_memory_statistics(ref_fs, cand_fs, ref_stats, options)
    finally:
        if cache is not None:
            cache.close()
        if scratch is not None:
            scratch.cleanup()
    ref_stats, (names, mu1, sigma1, mu2, sigma2), n_candidate, dropped, seed = stats
    skipped = []
    notices = []
    for label, fs in (("reference", ref_fs), ("candidate", cand_fs)):
        if fs is not None:
            skipped += [dict(s.to_dict(), set=label) for s in fs.skipped + dropped[label]]
            notices += fs.notices
    d2 = frechet_distance(mu1, sigma1, mu2, sigma2, means_only=options.means_only)
    value = frd_value(d2, log=options.rules.log_output, paper_log=options.paper_log)
    timings["statistics_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start

    option_dict = options.to_dict()
    option_dict["seed"] = seed
    return FRDResult(
        value=value,
        d2=float(d2),
        version=options.version,
        n_reference=ref_stats.n,
        n_candidate=n_candidate,
        features_used=names,
        skipped=skipped,
        options=option_dict,
        versions=library_versions(),
        timings={k: round(v, 4) for k, v in timings.items()},
        cache={
            "enabled": use_cache,
            "hits": sum(fs.cache_hits for fs in feature_sets),
            "extracted": sum(fs.extracted for fs in feature_sets),
        },
        notices=notices,
        ndim=cand_fs.ndim,
    )


def _check_dimensions(ref_ndim: int, cand_ndim: int, from_stats: bool) -> None:
    if ref_ndim != cand_ndim:
        what = "reference statistics are" if from_stats else "reference set is"
        raise ExtractionError(f"the {what} {ref_ndim}D but the candidate set is {cand_ndim}D; "
                              "compare 2D and 3D images separately")


def _in_memory_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions):
    """Steps 2–6 with every row in memory: the reference's exact float32 arithmetic."""
    cand, cand_names, cand_dropped = prepare_rows(cand_fs, options)
    dropped = {"reference": [], "candidate": cand_dropped}
    seed = options.seed
    if ref_stats is None:
        ref, ref_names, dropped["reference"] = prepare_rows(ref_fs, options)
        _check_same_features(ref_names, cand_names)
        if options.match_sample_count:
            seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            ref, cand = _match_counts(ref, cand, seed)
        base = np.concatenate([ref, cand]) if options.resolved_norm_ref == "joint" else ref
        ref_stats = ReferenceStats.fit(ref, ref_names, options, ndim=ref_fs.ndim,
                                       normalizer=fit_normalizer(base, options))
    else:
        _check_same_features(ref_stats.names, cand_names)
    cand_norm = (fit_normalizer(cand, options) if options.resolved_norm_ref == "independent"
                 else ref_stats.normalizer)
    pieces = ref_stats.compare_rows(cand, cand_norm, options)
    return ref_stats, pieces, int(cand.shape[0]), dropped, seed


def _streaming_statistics(ref_fs, cand_fs, ref_stats, options: FRDOptions, cache, chunk_rows: int):
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
        moments = Moments(len(names))
        for rows in blocks(fs, label):
            moments.update(normalizer.apply(rows))
        return moments

    if ref_stats is None:
        _check_same_features(list(ref_fs.names), list(cand_fs.names))
        normalizer = fit(ref_fs, cand_fs) if options.resolved_norm_ref == "joint" else fit(ref_fs)
        ref_moments = normalised_moments(ref_fs, normalizer, "reference")
        ref_stats = ReferenceStats.from_moments(ref_moments, ref_moments.n, names, options,
                                                ndim=ref_fs.ndim, normalizer=normalizer)
    else:
        _check_same_features(ref_stats.names, names)
    cand_norm = fit(cand_fs) if options.resolved_norm_ref == "independent" else ref_stats.normalizer
    cand_moments = normalised_moments(cand_fs, cand_norm, "candidate")
    if cand_moments.n == 0 or ref_stats.n == 0:
        raise ExtractionError("no image is left after dropping images with NaN features")
    pieces = ref_stats.compare_moments(cand_moments, options)
    return ref_stats, pieces, cand_moments.n, dropped, options.seed


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
