"""Feature matrices of image sets: cache look-up, parallel extraction, progress.

:func:`extract_sets` takes one or more sets of :class:`~frd.inputs.ImageItem` and
returns one :class:`FeatureSet` per set, rows in input order. Images found in the
feature cache are not read at all; the others go to one executor shared by all sets
(:mod:`frd.executors`: a local process pool by default, or a Dask cluster).

Unreadable files and images with an empty mask are skipped and reported (or raise with
``strict=True``); a mask that does not fit its image, mixed 2D/3D input and an empty
set are errors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from .cache import FeatureCache, cache_key
from .errors import ExtractionError, OptionError
from .executors import make_executor
from .inputs import ImageItem, InputError
from .options import FRDOptions
from .provenance import pyradiomics_version


@dataclass
class Skipped:
    """An image left out of the statistics, and why."""

    name: str
    path: str
    reason: str

    def to_dict(self) -> dict:
        """The JSON form (name, path, reason)."""
        return {"name": self.name, "path": self.path, "reason": self.reason}


@dataclass
class FeatureSet:
    """Raw features of one image set: ``values[i]`` belongs to ``items[i]``."""

    items: list[ImageItem]
    names: tuple[str, ...]
    values: np.ndarray | None  # (n_images, n_features) float64; None when kept in the cache only
    ndim: int
    keys: list[str] = field(default_factory=list)  # feature-cache key of each row (none without a cache)
    skipped: list[Skipped] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cache_hits: int = 0
    extracted: int = 0

    def __len__(self) -> int:
        return len(self.items)

    @property
    def matrix(self) -> np.ndarray:
        """The vectors held in memory (an error for a set kept in the cache only)."""
        if self.values is None:
            raise ValueError("this feature set keeps its vectors in the cache only (read them with chunks())")
        return self.values

    @classmethod
    def concat(cls, sets: list[FeatureSet]) -> FeatureSet:
        """One set of the images of ``sets`` (in memory), in order; their features must agree."""
        kept = [fs for fs in sets if len(fs)]
        if not kept:
            return sets[0]
        names = kept[0].names
        for fs in kept[1:]:
            if fs.names != names or fs.ndim != kept[0].ndim:
                raise ExtractionError("the batches do not have the same features (2D and 3D, or other settings?)")
        return cls(
            items=[i for fs in sets for i in fs.items],
            names=names,
            values=np.vstack([fs.matrix for fs in kept]),
            ndim=kept[0].ndim,
            keys=[k for fs in sets for k in fs.keys],
            skipped=[s for fs in sets for s in fs.skipped],
            notices=[n for fs in sets for n in fs.notices],
            cache_hits=sum(fs.cache_hits for fs in sets),
            extracted=sum(fs.extracted for fs in sets),
        )

    def chunks(self, cache: FeatureCache, rows: int):
        """The rows in blocks of at most ``rows``: from memory, or read back from the cache."""
        for start in range(0, len(self.items), rows):
            if self.values is not None:
                yield self.values[start : start + rows]
            else:
                yield cache.get_vectors(self.keys[start : start + rows])


# ----- main side --------------------------------------------------------------------------
class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    """A progress bar on stderr when it is a terminal (tqdm imported only then)."""
    if not (enabled and total and sys.stderr.isatty()):
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, desc="extracting", unit="img", file=sys.stderr, leave=False)


def extract_sets(
    sets: list[list[ImageItem]],
    options: FRDOptions,
    *,
    workers: int | None = None,
    cache: FeatureCache | None = None,
    progress: bool = True,
    strict: bool = False,
    on_progress=None,
    scheduler=None,
    keep_values: bool = True,
    labels: tuple[str, ...] | None = None,
) -> list[FeatureSet]:
    """Feature matrices of ``sets`` (see the module docstring for the rules).

    ``labels`` name the sets in messages ("reference", "candidate"); default "the set".

    ``scheduler`` (or ``$FRD_DASK_ADDRESS``) sends extraction to a Dask cluster instead of
    a local pool of ``workers`` processes (default: all cores). With ``keep_values=False``
    the vectors stay in the cache only (``FeatureSet.values`` is None; read them back with
    :meth:`FeatureSet.chunks`), so memory does not grow with the number of images.
    """
    if not keep_values and cache is None:
        raise ValueError("keep_values=False needs a feature cache to hold the vectors")
    labels = tuple(labels) if labels is not None else ("set",) * len(sets)
    for s, items in enumerate(sets):
        if not items:
            raise InputError(f"the {labels[s]} set holds no images")
    # Without a cache the keys are never looked up: reading and hashing every file first
    # would only delay the start of extraction.
    keys = _cache_keys(sets, options) if cache is not None else None
    jobs: list[tuple[int, int, ImageItem, str | None]] = []  # (set index, row, item, cache key)
    for s, items in enumerate(sets):
        for row, item in enumerate(items):
            jobs.append((s, row, item, keys[(s, row)] if keys is not None else None))

    results: dict[tuple[int, int], tuple] = {}
    todo = []
    hits: dict[str | None, tuple] = {}
    if cache is not None and keys is not None:
        if keep_values:
            hits.update(cache.get_many(list(keys.values())))
        else:
            hits.update(
                (k, (names, None, ndim)) for k, (names, ndim) in cache.get_meta_many(list(keys.values())).items()
            )
    for s, row, item, key in jobs:
        if key in hits:
            names, values, ndim = hits[key]
            results[(s, row)] = ("ok", names, values, ndim, None, True, key)
        else:
            todo.append((s, row, item, key))
    del hits

    done = 0
    bar = _progress(len(todo), progress)

    def record(job, outcome):
        nonlocal done
        s, row, item, key = job
        status, payload = outcome
        if status == "ok":
            values = payload.values if keep_values else None
            results[(s, row)] = ("ok", payload.names, values, payload.ndim, payload.notice, False, key)
            if cache is not None:
                cache.put(key, payload.names, payload.values, payload.ndim)
        elif status == "error":
            raise ExtractionError(payload)
        else:
            if strict:
                raise ExtractionError(f"{item.files[0]}: {payload} (strict mode)")
            results[(s, row)] = ("skip", payload)
        done += 1
        bar.update(1)
        if on_progress is not None:
            on_progress(done, len(todo))

    executor = make_executor(workers, scheduler) if todo else None
    try:
        if executor is not None:
            for index, outcome in executor.run([job[2] for job in todo], options):
                record(todo[index], outcome)
    finally:
        bar.close()
        if executor is not None and executor is not scheduler:  # a caller's executor stays open
            executor.close()

    return [_assemble(s, labels[s], items, results, strict, keep_values) for s, items in enumerate(sets)]


def _cache_keys(sets: list[list[ImageItem]], options: FRDOptions) -> dict[tuple[int, int], str]:
    """The feature-cache key of every image: its bytes (and its mask's), the extraction
    options, pyradiomics' version."""
    fingerprint = options.extraction_fingerprint()
    engine = pyradiomics_version()
    return {
        (s, row): cache_key(item.content_hash(), item.mask.content_hash() if item.mask else None, fingerprint, engine)
        for s, items in enumerate(sets)
        for row, item in enumerate(items)
    }


def _assemble(s: int, label: str, items: list[ImageItem], results: dict, strict: bool, keep_values: bool) -> FeatureSet:
    kept_items, rows, skipped, notices = [], [], [], []
    names_seen: dict[tuple[str, ...], int] = {}
    ndims = set()
    hits = extracted = 0
    for row, item in enumerate(items):
        outcome = results[(s, row)]
        if outcome[0] == "skip":
            skipped.append(Skipped(item.name, item.files[0], outcome[1]))
            continue
        _, names, values, ndim, notice, hit, key = outcome
        names_seen[names] = names_seen.get(names, 0) + 1
        ndims.add((ndim, item.files[0]))
        kept_items.append(item)
        rows.append((names, values, key))
        if notice:
            notices.append(notice)
        hits += hit
        extracted += not hit
    if not rows:
        reasons = "; ".join(f"{k.name}: {k.reason}" for k in skipped[:5])
        raise ExtractionError(f"the {label} set: no image gave features ({reasons})")
    dims = {d for d, _ in ndims}
    if len(dims) > 1:
        example = {d: f for d, f in sorted(ndims)}
        raise ExtractionError(
            f"the {label} set mixes 2D and 3D images (e.g. {example[2]} is 2D, {example[3]} is 3D); "
            "compare 2D and 3D images separately"
        )
    # Every vector must have the same features; a rare image whose filter output differs
    # (e.g. a volume too small for one LoG sigma) is skipped rather than misaligned.
    names = max(names_seen, key=lambda n: names_seen[n])
    final_items, final_rows, final_keys = [], [], []
    for item, (n, v, key) in zip(kept_items, rows):
        if n == names:
            final_items.append(item)
            final_rows.append(v)
            if key is not None:
                final_keys.append(key)
        else:
            reason = f"its feature set differs from the other images' ({len(n)} vs {len(names)} features)"
            if strict:
                raise ExtractionError(f"{item.files[0]}: {reason} (strict mode)")
            skipped.append(Skipped(item.name, item.files[0], reason))
    return FeatureSet(
        items=final_items,
        names=names,
        values=np.vstack(final_rows) if keep_values else None,
        ndim=dims.pop(),
        keys=final_keys,
        skipped=skipped,
        notices=notices,
        cache_hits=hits,
        extracted=extracted,
    )


# ----- guards on a set's size -------------------------------------------------------------
def require_images(count: int, label: str, minimum: int = 2, *, usable: bool = False) -> None:
    """A set needs two images for a covariance: checked on discovery, before any work, and
    again on the images left after skipping (``usable``)."""
    if count < minimum:
        what = "usable image" if usable else "image"
        raise ExtractionError(
            f"the {label} set has {count} {what}{'s' if count != 1 else ''}; FRD needs at least {minimum}"
        )


def check_skipped(label: str, total: int, skipped: list[Skipped], options: FRDOptions) -> None:
    """Refuse a silent subset: more than ``options.max_skipped`` of a set left out."""
    if total and len(skipped) / total > options.max_skipped:
        listed = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        raise OptionError(
            "max_skipped",
            (
                f"allows {options.max_skipped:.0%} of a set to be skipped, but {len(skipped)} of {total} images "
                f"of the {label} set were ({listed}{more}); fix or remove those files, or raise {{option:max_skipped}}"
            ),
        )
