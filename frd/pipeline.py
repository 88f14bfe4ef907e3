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

import tempfile
import time
from dataclasses import fields
from pathlib import Path

from .cache import FeatureCache
from .errors import InputError, OptionError
from .featureset import FeatureSet, check_skipped, extract_sets, require_images
from .inputs import SetSource
from .options import FRDOptions
from .provenance import library_versions
from .results import FRDResult
from .rows import prepare_rows
from .scoring import score
from .sources import load_source
from .stats import ReferenceStats, check_stats_options

STATS_SUFFIX = ".frdstats"
# Above this many images in total, statistics are computed from blocks of rows read back
# from the feature cache instead of one in-memory matrix.
STREAM_ABOVE_ROWS = 20_000
DEFAULT_CHUNK_ROWS = 2048


# ----- public API ------------------------------------------------------------------------
def make_options(options: FRDOptions | None, overrides: dict) -> FRDOptions:
    """``options`` (default: v1's) with keyword ``overrides`` applied; an unknown keyword
    is an :class:`~frd.errors.OptionError` listing the options."""
    options = options or FRDOptions()
    known = {f.name for f in fields(FRDOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise OptionError(unknown[0], f"is not an FRD option (the options are: {', '.join(sorted(known))})")
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
    _label: str = "input",
    **overrides,
) -> FeatureSet:
    """Raw per-image features of one set (rows in input order, skipped images reported)."""
    options = make_options(options, overrides)
    items = load_source(source, masks)
    cache = _open_cache(use_cache, cache_dir)
    try:
        features = extract_sets(
            [items],
            options,
            workers=workers,
            cache=cache,
            progress=progress,
            strict=strict,
            scheduler=scheduler,
            labels=(_label,),
        )[0]
    finally:
        if cache is not None:
            cache.close()
    check_skipped(_label, len(items), features.skipped, options)
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
    options = make_options(options, overrides)
    check_stats_options(options)
    features = extract_features(
        reference,
        masks,
        options=options,
        workers=workers,
        use_cache=use_cache,
        cache_dir=cache_dir,
        progress=progress,
        strict=strict,
        scheduler=scheduler,
        _label="reference",
    )
    values, names, dropped = prepare_rows(features, options, "reference")
    check_skipped("reference", len(features) + len(features.skipped), features.skipped + dropped, options)
    require_images(len(values), "reference", usable=True)
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
    """FRD between a reference (folder, file list, zip, stats, or images in memory) and a candidate set.

    Sets may be folders, zips, lists of files, or images in memory — numpy arrays, torch
    tensors, SimpleITK images, or :class:`~frd.sources.ArraySet` (see :mod:`frd.sources`).

    Keyword overrides are :class:`~frd.options.FRDOptions` fields, e.g.
    ``compare("real/", "fake/", version="v0")``. ``scheduler`` (a Dask scheduler address
    or Client; default ``$FRD_DASK_ADDRESS``) runs extraction on a Dask cluster; it may
    also be a configured executor from :mod:`frd.executors`.
    ``chunk_rows`` computes the statistics from blocks of that many rows read back from
    the feature cache (automatic above ``STREAM_ABOVE_ROWS`` images), so memory does not
    grow with the set size.
    """
    return compare_sets(
        reference,
        candidate,
        reference_masks=reference_masks,
        candidate_masks=candidate_masks,
        options=make_options(options, overrides),
        workers=workers,
        use_cache=use_cache,
        cache_dir=cache_dir,
        progress=progress,
        strict=strict,
        on_progress=on_progress,
        scheduler=scheduler,
        chunk_rows=chunk_rows,
    )


def compare_sets(
    reference,
    candidate,
    *,
    reference_masks,
    candidate_masks,
    options: FRDOptions,
    workers,
    use_cache: bool,
    cache_dir,
    progress: bool,
    strict: bool,
    on_progress,
    scheduler,
    chunk_rows: int | None,
    labels: tuple[str, str] = ("reference", "candidate"),
    min_candidate: int = 2,
) -> FRDResult:
    """:func:`compare` with resolved options, also for OOD screening (``labels`` reference/test; ``min_candidate`` 1:
    one test image has no covariance, and no FRD, but an out-of-domain score)."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise OptionError("chunk_rows", f"must be a whole number of at least 1, not {chunk_rows!r}")

    ref_stats = as_stats(reference, labels[0])
    if ref_stats is not None:
        ref_stats.check_compatible(options)
        check_stats_options(options)
    sets = [] if ref_stats is not None else [load_source(reference, reference_masks)]
    if isinstance(candidate, ReferenceStats) or is_stats_source(candidate):
        raise InputError(
            f"{candidate}: reference statistics can only be the {labels[0]}; the {labels[1]} must be "
            "images (a folder, a .zip, or image files)"
        )
    sets.append(load_source(candidate, candidate_masks))
    if ref_stats is None:
        require_images(len(sets[0]), labels[0])
    require_images(len(sets[-1]), labels[1], min_candidate)
    timings["discovery_s"] = time.perf_counter() - t_start

    t = time.perf_counter()
    streaming = chunk_rows is not None or sum(len(s) for s in sets) > STREAM_ABOVE_ROWS
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    scratch = None
    cache: FeatureCache | None
    if streaming and not use_cache:
        # Chunked statistics read the vectors back from a cache: use a throw-away one.
        scratch = tempfile.TemporaryDirectory(prefix="frd-rows-")
        cache = FeatureCache(scratch.name)
    else:
        cache = _open_cache(use_cache, cache_dir)
    try:
        feature_sets = extract_sets(
            sets,
            options,
            workers=workers,
            cache=cache,
            progress=progress,
            strict=strict,
            on_progress=on_progress,
            scheduler=scheduler,
            keep_values=not streaming,
            labels=labels[-len(sets) :],
        )
        timings["extraction_s"] = time.perf_counter() - t

        result = score(
            ref_stats if ref_stats is not None else feature_sets[0],
            feature_sets[-1],
            options,
            cache=cache,
            chunk_rows=chunk_rows if streaming else None,
            labels=labels,
            min_candidate=min_candidate,
        )
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
    return score(reference, candidate, make_options(options, overrides), cache=cache, chunk_rows=chunk_rows)


def is_stats_source(source) -> bool:
    """Whether ``source`` names a statistics file (``.frdstats``, or frd-score's ``.npz``)."""
    return isinstance(source, (str, Path)) and str(source).lower().endswith((STATS_SUFFIX, ".npz"))


def as_stats(reference, label: str = "reference") -> ReferenceStats | None:
    """The reference as statistics when it is a ReferenceStats or a statistics file."""
    if isinstance(reference, ReferenceStats):
        return reference
    if not is_stats_source(reference):
        return None
    if str(reference).lower().endswith(".npz"):
        # frd-score's .npz holds only mu and sigma: not enough for D1-referenced normalisation.
        raise InputError(
            f"{reference}: a .npz of frd-score cannot serve as the {label}: it lacks the "
            "raw feature means and deviations that v1's normalisation needs; make an "
            f"frd statistics file with `frd stats` (.frdstats), or give the {label} images"
        )
    return ReferenceStats.load(reference)
