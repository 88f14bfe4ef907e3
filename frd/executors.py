"""Where per-image extraction runs: in this process, a local process pool, or a Dask cluster.

Every executor takes the same task — ``extract_task(item, options)``, which never raises
for a bad image but returns an outcome tuple — and yields ``(index, outcome)`` pairs in
completion order; the caller puts them back in input order. Work is submitted largest
input first so that a few slow volumes start early and do not leave a core idle at the
end.

* :class:`InlineExecutor` — one image after the other, in this process.
* :class:`LocalExecutor` — a process pool (forkserver), one pyradiomics extractor per worker.
* :class:`DaskExecutor` — a Dask ``distributed`` cluster (``tcp://host:port`` of a
  scheduler, e.g. started by dask-jobqueue on SLURM or the Dask Helm chart). Workers must
  see the image files at the same paths (a shared filesystem). A worker that dies
  mid-run has its images rescheduled on the others by Dask.
"""

from __future__ import annotations

import os
import threading
from typing import Iterator

from .inputs import ImageItem
from .options import FRDOptions

# ----- the task ---------------------------------------------------------------------------
_local = threading.local()  # Dask runs tasks in threads: one extractor per thread


def _extractor(options: FRDOptions):
    cache = getattr(_local, "extractors", None)
    if cache is None:
        cache = _local.extractors = {}
    key = options.extraction_fingerprint()
    if key not in cache:
        from .extract import Extractor

        cache[key] = Extractor(options)
    return cache[key]


def extract_task(item: ImageItem, options: FRDOptions, itk_threads: int | None = None):
    """Returns ("ok", FeatureVector) | ("skip", reason) | ("error", message)."""
    from .extract import MaskMismatch, SkipImage
    from .imageio import ImageReadError

    if itk_threads:
        _limit_itk_threads(itk_threads)

    try:
        return "ok", _extractor(options)(item)
    except MaskMismatch as exc:
        return "error", str(exc)
    except (SkipImage, ImageReadError) as exc:
        return "skip", str(exc)
    except Exception as exc:  # pyradiomics raises many kinds; one bad image must not end the run
        return "skip", f"feature extraction failed: {type(exc).__name__}: {exc}"


def _limit_itk_threads(threads: int) -> None:
    import SimpleITK as sitk

    if sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() != threads:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _init_pool_worker(nice: int) -> None:
    # The pool already fills the cores; ITK's own threads would only oversubscribe them.
    _limit_itk_threads(1)
    if nice > 0:
        os.nice(nice)


def _largest_first(items: list[ImageItem]) -> list[int]:
    def size(item: ImageItem) -> int:
        total = 0
        for path in item.files:
            try:
                total += os.path.getsize(path)
            except OSError:
                pass
        return total

    return sorted(range(len(items)), key=lambda i: -size(items[i]))


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ----- executors --------------------------------------------------------------------------
class InlineExecutor:
    name = "inline"

    def run(self, items: list[ImageItem], options: FRDOptions) -> Iterator[tuple[int, tuple]]:
        for i in range(len(items)):
            yield i, extract_task(items[i], options)

    def close(self) -> None:
        pass


class LocalExecutor:
    """A pool of worker processes on this machine (all cores by default).

    A service uses ``isolate=True`` (never extract on the calling process's threads, which
    would hold its interpreter lock while requests wait) and ``nice`` (lower the workers'
    priority so that requests are answered promptly while images are extracted).
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, nice: int = 0, isolate: bool = False):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.nice, self.isolate = nice, isolate

    def run(self, items, options):
        if (self.workers == 1 or len(items) == 1) and not self.isolate:
            yield from InlineExecutor().run(items, options)
            return
        import concurrent.futures as cf  # imported here: a fully cached run never needs a pool
        import multiprocessing

        if "forkserver" in multiprocessing.get_all_start_methods():
            # Workers start from a clean process (no inherited threads or SQLite handles)
            # and pay pyradiomics' import once, in the fork server.
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["frd.extract"])
        else:
            ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=ctx,
                                    initializer=_init_pool_worker, initargs=(self.nice,)) as pool:
            futures = {pool.submit(extract_task, items[i], options): i for i in _largest_first(items)}
            try:
                for future in cf.as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()

    def close(self) -> None:
        pass


class DaskExecutor:
    """Extraction on a Dask cluster; ``address`` is a scheduler address or a Client."""

    name = "dask"

    def __init__(self, address):
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError("a Dask scheduler was given but Dask is not installed: "
                               "pip install 'frd-radiomics[dask]'") from None
        if isinstance(address, Client):
            self.client, self._owned = address, False
        else:
            self.client, self._owned = Client(address, set_as_default=False), True

    def run(self, items, options):
        from distributed import as_completed

        order = _largest_first(items)
        futures = {}
        for rank, i in enumerate(order):
            # pure=False: every run extracts (the feature cache already decided what to skip);
            # a higher priority for larger inputs keeps the largest-first order on the cluster.
            # One ITK thread per task: Dask already runs one task per worker thread.
            future = self.client.submit(extract_task, items[i], options, 1, pure=False,
                                        priority=len(order) - rank, retries=1)
            futures[future] = i
        try:
            with self.client.as_current():  # as_completed looks up "the" client
                for future in as_completed(futures):
                    yield futures[future], future.result()
        finally:
            for future in futures:
                future.release()

    def close(self) -> None:
        if self._owned:
            self.client.close()


def make_executor(workers: int | None = None, scheduler=None):
    """The executor for a run. ``scheduler`` may already be an executor (anything with
    ``run``/``close``, e.g. a configured LocalExecutor), a Dask scheduler address or Client;
    without one, ``$FRD_DASK_ADDRESS``, else a local pool of ``workers`` processes."""
    if hasattr(scheduler, "run") and hasattr(scheduler, "close"):
        return scheduler
    scheduler = scheduler or os.environ.get("FRD_DASK_ADDRESS") or None
    if scheduler:
        return DaskExecutor(scheduler)
    return LocalExecutor(workers)
