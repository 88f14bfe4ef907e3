"""Feature matrices of image sets: cache look-up, parallel extraction, progress.

:func:`extract_sets` takes one or more sets of :class:`~frd.inputs.ImageItem` and
returns one :class:`FeatureSet` per set, rows in input order. Images found in the
feature cache are not read at all; the others are extracted by one process pool shared
by all sets (largest files first, so that a slow volume does not leave a core idle at
the end), with one pyradiomics extractor per worker.

Unreadable files and images with an empty mask are skipped and reported (or raise with
``strict=True``); a mask that does not fit its image, mixed 2D/3D input and an empty
set are errors.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .cache import FeatureCache, cache_key
from .inputs import ImageItem, InputError
from .options import FRDOptions
from .provenance import pyradiomics_version


class ExtractionError(RuntimeError):
    """Extraction cannot give a usable result (strict mode, mixed dimensions, empty set)."""


@dataclass
class Skipped:
    name: str
    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "reason": self.reason}


@dataclass
class FeatureSet:
    """Raw features of one image set: ``values[i]`` belongs to ``items[i]``."""

    items: list[ImageItem]
    names: tuple[str, ...]
    values: np.ndarray  # (n_images, n_features) float64
    ndim: int
    skipped: list[Skipped] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cache_hits: int = 0
    extracted: int = 0

    def __len__(self) -> int:
        return len(self.items)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ----- worker side ------------------------------------------------------------------------
_worker_extractor = None


def _init_worker(options: FRDOptions, threads: int | None) -> None:
    global _worker_extractor
    from .extract import Extractor

    if threads:
        import SimpleITK as sitk

        # Workers already fill the cores; ITK's own threads would only oversubscribe them.
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    _worker_extractor = Extractor(options)


def _extract_in_worker(item: ImageItem):
    """Returns ("ok", FeatureVector) | ("skip", reason) | ("error", message)."""
    from .extract import MaskMismatch, SkipImage
    from .imageio import ImageReadError

    try:
        return "ok", _worker_extractor(item)
    except MaskMismatch as exc:
        return "error", str(exc)
    except (SkipImage, ImageReadError) as exc:
        return "skip", str(exc)
    except Exception as exc:  # pyradiomics raises many kinds; one bad image must not end the run
        return "skip", f"feature extraction failed: {type(exc).__name__}: {exc}"


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


def _mp_context():
    # forkserver: workers start from a clean process (no inherited threads or SQLite
    # handles) and pay pyradiomics' import once, in the server.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["frd.extract"])
        return ctx
    return multiprocessing.get_context("spawn")


def extract_sets(
    sets: list[list[ImageItem]],
    options: FRDOptions,
    *,
    workers: int | None = None,
    cache: FeatureCache | None = None,
    progress: bool = True,
    strict: bool = False,
    on_progress=None,
) -> list[FeatureSet]:
    """Feature matrices of ``sets`` (see the module docstring for the rules)."""
    fingerprint = options.extraction_fingerprint()
    engine = pyradiomics_version()
    jobs: list[tuple[int, int, ImageItem, str]] = []  # (set index, row, item, cache key)
    for s, items in enumerate(sets):
        if not items:
            raise InputError(f"set {s + 1} holds no images")
        for row, item in enumerate(items):
            key = cache_key(
                item.content_hash(),
                item.mask.content_hash() if item.mask else None,
                fingerprint,
                engine,
            )
            jobs.append((s, row, item, key))

    results: dict[tuple[int, int], tuple] = {}
    hits = cache.get_many([j[3] for j in jobs]) if cache is not None else {}
    todo = []
    for s, row, item, key in jobs:
        if key in hits:
            names, values, ndim = hits[key]
            results[(s, row)] = ("ok", names, values, ndim, None, True)
        else:
            todo.append((s, row, item, key))

    workers = default_workers() if workers is None else max(1, int(workers))
    done = 0
    bar = _progress(len(todo), progress)

    def record(job, outcome):
        nonlocal done
        s, row, item, key = job
        status, payload = outcome
        if status == "ok":
            results[(s, row)] = ("ok", payload.names, payload.values, payload.ndim, payload.notice, False)
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

    try:
        if todo and (workers == 1 or len(todo) == 1):
            _init_worker(options, None)
            for job in todo:
                record(job, _extract_in_worker(job[2]))
        elif todo:
            # Largest inputs first: the long ones start early and the short ones fill gaps.
            order = sorted(todo, key=lambda j: -sum(_size(p) for p in j[2].files))
            with cf.ProcessPoolExecutor(
                max_workers=min(workers, len(todo)),
                mp_context=_mp_context(),
                initializer=_init_worker,
                initargs=(options, 1),
            ) as pool:
                futures = {pool.submit(_extract_in_worker, job[2]): job for job in order}
                try:
                    for future in cf.as_completed(futures):
                        record(futures[future], future.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()

    return [_assemble(s, items, results, strict) for s, items in enumerate(sets)]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _assemble(s: int, items: list[ImageItem], results: dict, strict: bool) -> FeatureSet:
    kept_items, rows, skipped, notices = [], [], [], []
    names_seen: dict[tuple[str, ...], int] = {}
    ndims = set()
    hits = extracted = 0
    for row, item in enumerate(items):
        outcome = results[(s, row)]
        if outcome[0] == "skip":
            skipped.append(Skipped(item.name, item.files[0], outcome[1]))
            continue
        _, names, values, ndim, notice, hit = outcome
        names_seen[names] = names_seen.get(names, 0) + 1
        ndims.add((ndim, item.files[0]))
        kept_items.append(item)
        rows.append((names, values))
        if notice:
            notices.append(notice)
        hits += hit
        extracted += not hit
    if not rows:
        reasons = "; ".join(f"{k.name}: {k.reason}" for k in skipped[:5])
        raise ExtractionError(f"set {s + 1}: no image gave features ({reasons})")
    dims = {d for d, _ in ndims}
    if len(dims) > 1:
        example = {d: f for d, f in sorted(ndims)}
        raise ExtractionError(
            f"set {s + 1} mixes 2D and 3D images (e.g. {example[2]} is 2D, {example[3]} is 3D); "
            "compare 2D and 3D images separately"
        )
    # Every vector must have the same features; a rare image whose filter output differs
    # (e.g. a volume too small for one LoG sigma) is skipped rather than misaligned.
    names = max(names_seen, key=names_seen.get)
    final_items, final_rows = [], []
    for item, (n, v) in zip(kept_items, rows):
        if n == names:
            final_items.append(item)
            final_rows.append(v)
        else:
            reason = f"its feature set differs from the other images' ({len(n)} vs {len(names)} features)"
            if strict:
                raise ExtractionError(f"{item.files[0]}: {reason} (strict mode)")
            skipped.append(Skipped(item.name, item.files[0], reason))
    return FeatureSet(
        items=final_items,
        names=names,
        values=np.vstack(final_rows),
        ndim=dims.pop(),
        skipped=skipped,
        notices=notices,
        cache_hits=hits,
        extracted=extracted,
    )
