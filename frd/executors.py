"""Where per-image extraction runs: in this process, a local process pool, or a Dask cluster.

Every executor takes the same task — ``extract_task(item, options)``, which never raises
but returns an outcome tuple: ``skip`` for a bad image, ``error`` for anything that is not
a property of the file — and yields ``(index, outcome)`` pairs in completion order; the
caller puts them back in input order. Work is submitted largest
input first so that a few slow volumes start early and do not leave a core idle at the
end.

* :class:`InlineExecutor` — one image after the other, in this process.
* :class:`LocalExecutor` — this process and a pool of worker processes taking images
  from one queue (forks of this process where that is safe, else loky's fresh
  interpreters); a service's or a streaming metric's loky pool works alone.
* :class:`DaskExecutor` — a Dask ``distributed`` cluster (``tcp://host:port`` of a
  scheduler, e.g. started by dask-jobqueue on SLURM or the Dask Helm chart). Workers must
  see the image files at the same paths (a shared filesystem). A worker that dies
  mid-run has its images rescheduled on the others by Dask.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import math
import os
import pickle  # numpy has imported it already: free here, and off each message's path
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from .allocator import tune_for_extraction
from .errors import EngineUnavailable, ExtractionError, OptionError
from .inputs import IMAGE_EXTENSIONS_3D, ImageItem, compound_suffix
from .options import FRDOptions

# An image shorter than this (seconds) is short enough for a worker to be given the next
# one before it has finished it (see LocalExecutor._run_alongside_pool).
PREFETCH_BELOW = 0.5

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


def worker_identity(*, with_path: bool) -> tuple:
    """What a worker must share with the process that sends it work: the frd release, the
    pyradiomics build and — for workers on this machine — the very package folder."""
    from ._version import __version__
    from .provenance import pyradiomics_version

    return (__version__, pyradiomics_version(), _PACKAGE_DIR if with_path else None)


_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


def extract_task(item: ImageItem, options: FRDOptions, itk_threads: int | None = None, identity: tuple | None = None):
    """Returns ("ok", FeatureVector) | ("skip", reason) | ("error", message).

    Only what is a property of the file is a skip (unreadable, truncated, wrong
    dimensionality, an empty mask, an image pyradiomics' own checks reject); a mask that
    does not fit its image, a worker running another frd, a missing compiled kernel, a
    lack of memory or a bug is an error that ends the run.
    """
    from .extract import MaskMismatch, SkipImage, rejected_by_pyradiomics
    from .imageio import ImageReadError
    from .limits import GrayLevelLimit

    if identity is not None:
        mine = worker_identity(with_path=identity[2] is not None)
        if mine != identity:
            return "error", (
                f"an extraction worker runs frd {mine[0]} from {mine[2] or 'another machine'} with "
                f"{mine[1]}, but this process runs frd {identity[0]} from {identity[2] or 'here'} "
                f"with {identity[1]}; workers must use the same installation"
            )
    if itk_threads:
        _limit_itk_threads(itk_threads)

    try:
        return "ok", _extractor(options)(item)
    except MaskMismatch as exc:
        return "error", str(exc)
    except ImageReadError as exc:
        return "skip", exc.reason  # the caller knows the file
    except (SkipImage, GrayLevelLimit) as exc:
        return "skip", str(exc)
    except EngineUnavailable as exc:
        return "error", str(exc)
    except MemoryError:
        return "error", f"{item.name}: out of memory while extracting its features; use fewer --workers"
    except Exception as exc:
        reason = rejected_by_pyradiomics(exc)
        if reason is not None:
            return "skip", reason
        return "error", f"{item.name}: feature extraction failed: {type(exc).__name__}: {exc}"


def _limit_itk_threads(threads: int) -> None:
    import SimpleITK as sitk

    if sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() != threads:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


@contextlib.contextmanager
def _one_itk_thread() -> Iterator[None]:
    """ITK's filters on one thread in this process meanwhile; the caller's setting after."""
    import SimpleITK as sitk

    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    _limit_itk_threads(1)
    try:
        yield
    finally:
        _limit_itk_threads(threads)


def _init_pool_worker(nice: int, parent: int | None = None) -> None:
    # The pool already fills the cores; ITK's own threads would only oversubscribe them.
    _limit_itk_threads(1)
    tune_for_extraction()  # a worker is frd's own process (see frd.allocator)
    if nice > 0:
        os.nice(nice)
    if parent is not None:
        _die_with(parent)


# For other pools of worker processes (the service's synchronous comparisons): the same
# set-up, ending with ``parent``.
init_worker = _init_pool_worker


def _fork_is_safe() -> bool:
    """Whether workers may be forked from this process.

    A forked worker starts with this process's imports and extractor, so it works at once
    instead of spending a few 2D images' time importing numpy, SimpleITK and pyradiomics.
    But fork copies only the forking thread: a lock that another Python thread held at that
    moment (a stream's, a logging handler's) stays locked in the child forever. So fork only
    from the main thread of a process that has no other Python thread (the command line, a
    plain script) — the C libraries' own threads (OpenBLAS', ITK's pool) reset themselves
    on fork — and only on Linux (macOS's system libraries are not fork-safe). Elsewhere
    (Jupyter, a service, a caller's threads) the workers are loky's fresh interpreters.
    """
    return (
        sys.platform.startswith("linux")
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


class _ForkedWorkers:
    """Worker processes forked from this one (see :func:`_fork_is_safe`), two pipes each.

    A worker inherits the images' list and the options, so a task is an image's index and
    a result its outcome. Each worker's pipes are its own and this process keeps only its
    ends of them, so a worker that dies, even halfway through sending a result, is an end of
    file on its result pipe and an error naming its exit status. (A concurrent.futures pool
    shares one result pipe whose writing end the pool's process holds too: a result cut off
    by a killed worker leaves the reader waiting for the rest forever.)

    The workers are forked with ``os.fork`` and speak length-prefixed pickles over
    ``os.pipe``: multiprocessing would import its modules (socket, signal, subprocess,
    selectors: 8-10 ms) for this alone, in this process, before any worker starts.
    """

    def __init__(self, n: int, nice: int, items: list, options: FRDOptions):
        _reap_workers()
        self.items = items
        self.pids: list[int] = []
        self.tasks: list[int] = []  # write ends: image indexes to each worker
        self.results: list[int] = []  # read ends: each worker's outcomes
        parent = os.getpid()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        try:
            for _ in range(n):
                self._fork(nice, parent, items, options)
        except BaseException:  # no more processes or pipes: the workers started so far end
            self.stop(kill=True)
            raise

    def _fork(self, nice: int, parent: int, items: list, options: FRDOptions) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            for fd in (task_read, task_write, result_read, result_write):
                os.close(fd)
            raise
        if pid == 0:  # the worker: it never returns into the caller's code
            status = 1
            try:
                for fd in (task_write, result_read, *self.tasks, *self.results):
                    os.close(fd)  # the other ends, and the earlier workers' pipes
                _forked_worker(task_read, result_write, nice, parent, items, options)
                status = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(task_read)
        os.close(result_write)
        self.pids.append(pid)
        self.tasks.append(task_write)
        self.results.append(result_read)
        _UNREAPED.add(pid)

    def dispatch(self, take, results, stop: threading.Event, left: set) -> None:
        """Keep every worker supplied with images from ``take`` and pass their outcomes to
        ``results`` until none is left in flight (or ``stop``); an error goes to
        ``results`` as ``(None, exception)``."""
        import select

        sent: list[collections.deque] = [collections.deque() for _ in self.pids]
        try:
            while not stop.is_set():
                for task, queued in zip(self.tasks, sent):
                    for i in take(len(queued)):
                        queued.append(i)
                        _send(task, i)
                poller = select.poll()  # the workers with an image in flight
                for fd, queued in zip(self.results, sent):
                    if queued:
                        poller.register(fd, select.POLLIN)
                if not any(sent):
                    return
                for fd, _ in poller.poll(500):
                    i, outcome = _receive(fd)
                    sent[self.results.index(fd)].remove(i)
                    results.put((i, outcome))
        except (EOFError, OSError) as exc:  # a worker ended: its result pipe is closed at its end
            names = [self.items[j].name for j in sorted(left)]
            results.put((None, _worker_died(exc, names, self.exit_statuses())))
        except BaseException as exc:
            results.put((None, exc))

    def exit_statuses(self) -> list[int]:
        """The non-zero exit statuses of the workers that ended. A killed worker's pipe
        closes a moment before the kernel can report its status: those whose pipe is
        closed are waited for (up to 2 s), the others are left running."""
        import select

        poller = select.poll()
        for fd in self.results:
            poller.register(fd, 0)  # a closed writing end is reported whatever the mask
        closed = {fd for fd, event in poller.poll(0) if event & (select.POLLHUP | select.POLLERR)}
        statuses = (_wait(pid, 2.0 if fd in closed else 0.0) for pid, fd in zip(self.pids, self.results))
        return sorted({code for code in statuses if code})

    def stop(self, kill: bool) -> None:
        """Tell the workers to end (an end of file on their task pipe: each ends after its
        current image), or kill them (and wait for that, up to 2 s each)."""
        if kill:
            import signal

            for pid in self.pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for fd in (*self.tasks, *self.results):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.tasks, self.results = [], []
        if kill:
            for pid in self.pids:
                _wait(pid, 2.0)
        _reap_workers()


def _wait(pid: int, seconds: float) -> int | None:
    """A forked worker's exit status (negative: the signal that ended it), waiting for it to
    end for up to ``seconds``; None while it runs (or when it was waited for already)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            _UNREAPED.discard(pid)
            return None
        if done:
            _UNREAPED.discard(pid)
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


# Forked workers that ended (or were told to) and were not waited for yet: reaped without
# waiting whenever workers are forked or stopped, so that a program calling frd again and
# again does not pile up finished processes, and waited for when this process exits.
_UNREAPED: set[int] = set()


def _reap_workers() -> None:
    for pid in list(_UNREAPED):
        _wait(pid, 0.0)


@atexit.register
def _wait_for_workers() -> None:
    """At exit, the workers told to end are waited for (as multiprocessing joins its
    children), up to 5 s each: the command ends after its workers, whose CPU time and
    memory then count as its own for whoever measures it (GNU time, a shell's wait)."""
    for pid in list(_UNREAPED):
        _wait(pid, 5.0)


def _send(fd: int, message) -> None:
    """One pickled message, its length first, all of it (a pipe may take less per write)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int):
    """The next message :func:`_send` wrote; EOFError at an end of file (the writer ended)."""
    return pickle.loads(_read_exactly(fd, int.from_bytes(_read_exactly(fd, 8), "big")))


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError("the worker's pipe was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _forked_worker(tasks: int, results: int, nice: int, parent: int, items: list, options: FRDOptions) -> None:
    import signal

    # A forked worker shares the terminal's process group: Ctrl-C is the parent's to handle
    # (it stops the workers), not a traceback from each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_pool_worker(nice, parent)
    while True:
        try:
            i = _receive(tasks)
        except (EOFError, OSError):  # the parent is done, or gone
            return
        outcome = extract_task(items[i], options)
        try:
            _send(results, (i, outcome))
        except OSError:  # the parent stopped listening (it is stopping the run)
            return


def _die_with(parent: int) -> None:
    """End this worker when ``parent`` (the process that made the pool) ends, even by
    kill -9, which leaves nobody to stop the pool. A watcher thread checks the parent
    every second (not the kernel's parent-death signal, which follows the parent's
    *thread* that started the worker: a pool started from a short-lived thread would
    lose its workers with that thread)."""

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="frd-parent-watch", daemon=True).start()


def _images_per_worker(last_image: float, waiting: int, helpers: int) -> int:
    """How many images each of ``helpers`` workers should hold, when this process took
    ``last_image`` seconds for its last one and ``waiting`` images are not handed out: two
    for short images (the second hides the dispatcher's latency), one for long ones (a
    second would break the largest-first balance) and near the end (no worker should hold a
    queued image while another idles)."""
    return 2 if last_image < PREFETCH_BELOW and waiting > 2 * helpers + 2 else 1


def _largest_first(items: list[ImageItem]) -> list[int]:
    """The items' indices, the costliest to extract first, so that the last images handed
    out are short and the workers end together. A volume's cost is its physical extent
    (:attr:`frd.imageio.ImageInfo.extent`, from its header); a 2D file's its size in bytes
    (reading 2D headers would delay the first image more than it could balance); an image
    in memory, its extent from its shape and spacing. A header that cannot be read counts
    by its bytes: the extraction will say what is wrong with it."""

    def cost(item: ImageItem) -> float:
        if item.pixels is not None:
            return float(math.prod(item.pixels.shape)) * math.prod(item.pixels.spacing)
        if len(item.files) == 1 and compound_suffix(item.files[0]) in IMAGE_EXTENSIONS_3D:
            from .imageio import probe

            with contextlib.suppress(ValueError):  # ImageReadError
                return probe(item).extent
        total = 0
        for path in item.files:
            try:
                total += os.path.getsize(path)
            except OSError:
                pass
        return total

    return sorted(range(len(items)), key=lambda i: -cost(items[i]))


def missing_kernel_error() -> EngineUnavailable:
    """Why the frd engine cannot run here: its compiled kernel is not next to this frd."""
    return EngineUnavailable(
        f"the frd engine's compiled kernel is not built in {_PACKAGE_DIR}: this looks like a source "
        "checkout (`python -m frd` run inside the repository imports it instead of the installed "
        "package). Run the installed `frd` command or work from another folder, build the checkout "
        "with `pip install -e .` (needs a C compiler), or choose --engine pyradiomics"
    )


def check_can_extract(options: FRDOptions) -> None:
    """Before any work: what extraction with ``options`` needs is installed here (found
    without importing it): the frd engine's kernel, OpenCV for resizing."""
    import importlib.util

    from .extras import require

    if options.engine == "frd" and importlib.util.find_spec(f"{__package__}._kernels") is None:
        raise missing_kernel_error()
    if options.resize is not None:
        require("resize", "--resize (OpenCV's bilinear resize, as the reference)")
    if options.params_file is not None:
        _check_params_file(options)


def _check_params_file(options: FRDOptions) -> None:
    """pyradiomics' own validation of a custom parameter file, here rather than once per
    image in the workers."""
    import logging

    from radiomics.featureextractor import RadiomicsFeatureExtractor

    logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
    try:
        RadiomicsFeatureExtractor(options.pyradiomics_params(2))
    except Exception as exc:  # pykwalify's SchemaError and friends
        lines = [
            re.sub(r"\.?:? *Path: '/'>$", "", ln.strip(" -"))
            for ln in str(exc).splitlines()
            if ln.strip().startswith("- ")
        ]
        reason = "; ".join(lines) or str(exc).splitlines()[0]
        raise OptionError(
            "params_file", f"is not a valid pyradiomics parameter file: {options.params_file} ({reason})"
        ) from None


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ----- executors --------------------------------------------------------------------------
class InlineExecutor:
    """One image after the other, in this process, with ITK's own threads off meanwhile (as
    in every worker): on FRD's images its filters spend more starting and joining threads
    than they save (``-w 1`` measured 3.4 % faster at 256², 0.8 % at 512², 1 % on the 3D
    fixtures, the same values). The caller's setting is restored afterwards."""

    name = "inline"

    def run(self, items: list[ImageItem], options: FRDOptions) -> Iterator[tuple[int, tuple]]:
        check_can_extract(options)
        if not items:
            return
        with _one_itk_thread():
            for i in range(len(items)):
                yield i, extract_task(items[i], options)

    def close(self) -> None:
        pass


class LocalExecutor:
    """``workers`` processes on this machine (all cores by default): this one and a pool of
    ``workers - 1``, or a pool of ``workers`` with ``isolate`` or ``reuse``.

    A service uses ``isolate=True`` (never extract on the calling process's threads, which
    would hold its interpreter lock while requests wait) and ``nice`` (lower the workers'
    priority so that requests are answered promptly while images are extracted).
    ``reuse=True`` keeps the pool's workers between runs (a streaming metric's batches
    then pay the workers' start-up once) until :meth:`close`.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, nice: int = 0, isolate: bool = False, reuse: bool = False):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.nice, self.isolate, self.reuse = nice, isolate, reuse
        self._pool = None  # the kept pool (reuse)
        self._alongside = None  # the loky pool of a run beside this process

    def _start_pool(self, n_items: int):
        from loky import ProcessPoolExecutor

        if self.reuse and self._pool is not None:
            return self._pool
        pool = ProcessPoolExecutor(
            max_workers=self.workers if self.reuse else min(self.workers, n_items),
            initializer=_init_pool_worker,
            initargs=(self.nice, os.getpid()),
        )
        if self.reuse:
            self._pool = pool
        return pool

    def run(self, items, options):
        if not self.isolate and (self.workers == 1 or (len(items) == 1 and not self.reuse)):
            yield from InlineExecutor().run(items, options)
            return
        check_can_extract(options)
        if self.isolate or self.reuse:
            yield from self._run_in_pool(items, options)
        else:
            with _one_itk_thread():  # this process extracts too: the cores are all taken
                yield from self._run_alongside_pool(items, options)

    def _run_in_pool(self, items, options):
        # loky starts each worker as a fresh interpreter (fork + exec: no inherited threads
        # or SQLite handles) that takes the parent's import path before it imports anything,
        # so it runs the same frd whatever the current folder; unlike multiprocessing's
        # spawn and forkserver it does not re-run the caller's script in each worker, so a
        # script calling frd.compare() at its top level needs no __main__ guard.
        import concurrent.futures as cf

        from loky.process_executor import BrokenProcessPool

        identity = worker_identity(with_path=True)
        pool = self._start_pool(len(items))
        futures = {pool.submit(extract_task, items[i], options, None, identity): i for i in _largest_first(items)}
        pending = set(futures.values())
        finished = False
        try:
            for future in cf.as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:
                    raise _worker_died(exc, [items[i].name for i in sorted(pending)]) from None
                pending.discard(futures[future])
                yield futures[future], outcome
            finished = True
        finally:
            for future in futures:
                future.cancel()
            # After an error (or an interrupted caller) the workers are stopped, not awaited.
            if not finished or not self.reuse:
                pool.shutdown(wait=finished, kill_workers=not finished)
                self._pool = None

    def _run_alongside_pool(self, items, options):
        """This process extracts too, beside ``workers - 1`` pool processes, all taking the
        next image (largest first) from one queue.

        The workers are forked from this process where that is safe (:func:`_fork_is_safe`,
        :class:`_ForkedWorkers`): they inherit its imports, its extractor and the images'
        list, and start work at once. Otherwise each is a new interpreter (loky) that spends
        about as long importing numpy, SimpleITK and pyradiomics as a few 2D images take to
        extract; this process starts its own share at once, so that start-up overlaps useful
        work instead of delaying all of it. Either way one interpreter fewer is started. A
        dispatcher thread keeps each worker supplied (two images in flight, one near the end,
        so that no worker holds a queued image while this process idles) while this thread
        is busy with an image; the work itself runs in the calling thread, where warnings
        filters, the redirected stderr of image reading and SimpleITK's settings are safe to
        touch.

        The second image in flight only hides the dispatcher's latency (a few milliseconds:
        it waits for this thread to let go of the GIL), which matters for short 2D images. For
        long ones (volumes) it would hand a worker the two largest at once and break the
        largest-first balance by up to a whole image at the end: so each worker gets one at
        a time until this process has timed an image shorter than :data:`PREFETCH_BELOW`.
        """
        import queue

        helpers = min(self.workers - 1, len(items) - 1)
        order = collections.deque(_largest_first(items))
        lock = threading.Lock()
        results: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        last_image = float("inf")  # seconds this process took for its last image (read by take)

        def take(held: int, workers: int = 1) -> list[int]:
            """The next images for ``workers`` workers that hold ``held`` images: two each in
            flight for short images, one near the end and for long ones."""
            with lock:
                share = _images_per_worker(last_image, len(order), helpers)
                return [order.popleft() for _ in range(min(max(share * workers - held, 0), len(order)))]

        def handed_over(message):
            i, outcome = message
            if i is None:
                raise outcome
            left.discard(i)
            return i, outcome

        left = set(range(len(items)))
        finished = False
        forked = None
        if _fork_is_safe():
            _extractor(options).warm()  # loaded here once; the forked workers inherit it
            forked = _ForkedWorkers(helpers, self.nice, items, options)  # before any other thread
            target = lambda: forked.dispatch(take, results, stop, left)  # noqa: E731
        else:
            target = lambda: self._dispatch_to_pool(helpers, items, options, take, results, stop, left)  # noqa: E731
        dispatcher = threading.Thread(target=target, name="frd-pool-dispatch", daemon=True)
        dispatcher.start()
        try:
            while left:
                while True:  # what the pool has finished first
                    try:
                        message = results.get_nowait()
                    except queue.Empty:
                        break
                    yield handed_over(message)
                with lock:
                    i = order.popleft() if order else None
                if i is not None:
                    started = time.perf_counter()
                    outcome = extract_task(items[i], options)
                    last_image = time.perf_counter() - started
                    left.discard(i)
                    yield i, outcome
                elif left:
                    yield handed_over(results.get())
            finished = True
        finally:
            stop.set()
            dispatcher.join(timeout=None if finished else 1.0)
            # The workers are not awaited: after the last result they exit while the caller
            # goes on (computing statistics); after an error they are stopped.
            if forked is not None:
                forked.stop(kill=not finished)
            elif self._alongside is not None:
                self._alongside.shutdown(wait=False, kill_workers=not finished)
            self._alongside = None

    def _dispatch_to_pool(self, helpers, items, options, take, results, stop, left) -> None:
        """The dispatcher of a loky pool (the workers are fresh interpreters)."""
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool  # loky's is a subclass

        identity = worker_identity(with_path=True)
        inflight: dict = {}
        try:
            # here, so that the calling thread starts work at once
            pool = self._alongside = self._start_pool(helpers)
            while not stop.is_set():
                for i in take(len(inflight), helpers):
                    inflight[pool.submit(extract_task, items[i], options, None, identity)] = i
                if not inflight:
                    return
                done, _ = cf.wait(inflight, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    i = inflight.pop(future)
                    results.put((i, future.result()))
        except BrokenProcessPool as exc:
            results.put((None, _worker_died(exc, [items[i].name for i in sorted(left)])))
        except BaseException as exc:
            results.put((None, exc))

    def close(self) -> None:
        """Stop a kept pool's workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _worker_died(exc: Exception, left: list[str], statuses: Sequence[int] = ()) -> ExtractionError:
    """The error for a pool that lost a worker; its exit statuses come from loky's message
    or are those of the forked workers that ended."""
    codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(exc))
    if codes:
        how = f" (exit status {codes.group(1)})"
    elif statuses:
        how = f" (exit status {{{', '.join(_status_name(c) for c in statuses)}}})"
    else:
        how = ""
    return ExtractionError(
        f"an extraction worker process died{how} — most often the system killed it for lack of "
        f"memory — with {len(left)} image(s) left, among them {', '.join(left[:5])}; fewer workers "
        "(--workers) need less memory"
    )


def _status_name(code: int) -> str:
    """An exit status as loky words it: a signal by name (``SIGKILL(-9)``), else the number."""
    import signal

    if code < 0:
        try:
            return f"{signal.Signals(-code).name}({code})"
        except ValueError:
            pass
    return str(code)


class DaskExecutor:
    """Extraction on a Dask cluster; ``address`` is a scheduler address or a Client."""

    name = "dask"

    def __init__(self, address):
        from .extras import require

        require("dask", "extraction on a Dask cluster (--scheduler, FRD_DASK_ADDRESS)")
        from distributed import Client

        if isinstance(address, Client):
            self.client, self._owned = address, False
        else:
            self.client, self._owned = Client(address, set_as_default=False), True

    def run(self, items, options):
        from distributed import as_completed

        order = _largest_first(items)
        identity = worker_identity(with_path=False)  # other machines install frd elsewhere
        futures = {}
        for rank, i in enumerate(order):
            # pure=False: every run extracts (the feature cache already decided what to skip);
            # a higher priority for larger inputs keeps the largest-first order on the cluster.
            # One ITK thread per task: Dask already runs one task per worker thread.
            future = self.client.submit(
                extract_task, items[i], options, 1, identity, pure=False, priority=len(order) - rank, retries=1
            )
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
