"""A streaming FRD for training loops: feed batches as they come, read the value when needed.

    metric = frd.FRDMetric(reference="real.frdstats")     # or a folder, arrays, ReferenceStats
    for batch in generator_samples():                     # arrays, tensors, SimpleITK images
        metric.update(batch)                              # extraction starts in the background
    result = metric.compute()                             # waits for the rest; an FRDResult
    metric.reset()                                        # the next epoch (the reference stays)

It follows torchmetrics' ``update``/``compute``/``reset`` protocol without depending on
torchmetrics or torch. Extraction runs in a pool of worker processes that lives as long as
the metric (no start-up per batch), behind a background thread, so ``update`` returns at
once and ``compute`` only waits for what is still running. Features go through the feature
cache as everywhere: a batch seen before, or the reference of a previous run, is not
extracted again. ``compute`` gives exactly the value of :func:`frd.compare` on the same
images, as the same pipeline stages compute it.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .cache import FeatureCache
from .errors import ExtractionError
from .executors import LocalExecutor, make_executor
from .featureset import FeatureSet, extract_sets, require_images
from .pipeline import as_stats, make_options
from .results import FRDResult
from .scoring import score
from .sources import ArraySet, load_source
from .stats import check_stats_options


class FRDMetric:
    """FRD of the images given to :meth:`update` against a fixed reference.

    ``reference`` is anything :func:`frd.compare` takes as a reference (a folder, a zip,
    files, a ``.frdstats`` file or :class:`~frd.stats.ReferenceStats`, or images in
    memory). Options and running arguments are :func:`frd.compare`'s.
    """

    def __init__(
        self,
        reference,
        *,
        reference_masks=None,
        options=None,
        workers: int | None = None,
        use_cache: bool = True,
        cache_dir=None,
        scheduler=None,
        **overrides,
    ):
        self.options = make_options(options, overrides)
        self._cache = (use_cache, cache_dir)
        self._executor = (
            make_executor(workers, scheduler) if scheduler is not None else LocalExecutor(workers, reuse=True)
        )
        self._background = ThreadPoolExecutor(1, thread_name_prefix="frd-metric")
        self._lock = threading.Lock()
        self._batches: list[Future] = []
        self._count = 0
        stats = as_stats(reference)
        if stats is not None:
            stats.check_compatible(self.options)
            check_stats_options(self.options)
            self._reference: Future = _done(stats)
        else:
            items = load_source(reference, reference_masks)
            require_images(len(items), "reference")
            self._reference = self._background.submit(self._extract, items, "reference")

    # ----- the metric protocol ------------------------------------------------------------
    def update(self, images, masks=None) -> None:
        """Add a batch of candidate images (see :mod:`frd.sources` for what a batch may be)."""
        batch = images if isinstance(images, ArraySet) else ArraySet(images, masks)
        items = load_source(batch)
        with self._lock:
            first = self._count
            self._count += len(items)
            items = [_renamed(item, f"sample {first + i}") for i, item in enumerate(items)]
            self._batches.append(self._background.submit(self._extract, items, "candidate"))

    def compute(self) -> FRDResult:
        """The FRD of every image given since the last :meth:`reset` (waits for extraction)."""
        with self._lock:
            batches = list(self._batches)
        if not batches:
            raise ExtractionError("no candidate images yet: call update() with a batch first")
        candidate = FeatureSet.concat([b.result() for b in batches])
        require_images(len(candidate) + len(candidate.skipped), "candidate")
        use_cache, cache_dir = self._cache
        cache = FeatureCache(cache_dir) if use_cache else None
        try:
            return score(self._reference.result(), candidate, self.options, cache=cache, chunk_rows=None)
        finally:
            if cache is not None:
                cache.close()

    def reset(self) -> None:
        """Forget the candidate images (the reference and the worker pool stay)."""
        with self._lock:
            self._batches = []
            self._count = 0

    def close(self) -> None:
        """Stop the background thread and the worker pool."""
        self._background.shutdown(wait=True, cancel_futures=True)
        self._executor.close()

    def __enter__(self) -> FRDMetric:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- work ---------------------------------------------------------------------------
    def _extract(self, items, label: str) -> FeatureSet:
        use_cache, cache_dir = self._cache
        cache = FeatureCache(cache_dir) if use_cache else None  # one connection per thread
        try:
            return extract_sets(
                [items], self.options, cache=cache, progress=False, scheduler=self._executor, labels=(label,)
            )[0]
        finally:
            if cache is not None:
                cache.close()


def _renamed(item, name: str):
    from dataclasses import replace

    mask = replace(item.mask, name=f"{name} (mask)", files=(f"{name} (mask)",)) if item.mask else None
    return replace(item, name=name, files=(name,), mask=mask)


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future
