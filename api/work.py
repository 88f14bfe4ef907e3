"""What each kind of job does: extraction into the tenant's feature cache, comparisons,
out-of-domain screenings and reference statistics — each a call of the ``frd`` library —
and how their results are made safe to show a client (no server paths).

Every function takes the :class:`~api.jobs.JobRunner` running it and the job's
:class:`~api.jobs.Lease`: progress reports go through the runner (which checks the lease
and cancellation there), and files are put in place only while the lease is held.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import frd
from frd.options import FRDOptions

from .db import dumps, now
from .metrics import EXTRACTION_SECONDS
from .scrub import scrub, scrub_result
from .settings import Settings

if TYPE_CHECKING:
    from .jobs import JobRunner, Lease


def warm_cache(runner: JobRunner, lease: Lease, images: Path, masks: Path | None, options: FRDOptions):
    """Extract a dataset into the tenant's feature cache, reporting progress (which is
    also where cancellation and the lease are checked)."""
    from frd.cache import FeatureCache
    from frd.featureset import extract_sets
    from frd.inputs import load_set

    t = time.perf_counter()
    with FeatureCache(runner.settings.cache_dir(lease.job["owner"])) as cache:
        fs = extract_sets(
            [load_set(images, masks)],
            options,
            scheduler=service_executor(runner.settings),
            cache=cache,
            progress=False,
            on_progress=runner.progress(lease),
        )[0]
    EXTRACTION_SECONDS.observe(time.perf_counter() - t)
    return fs


def extract(runner: JobRunner, lease: Lease, params: dict) -> dict:
    images, masks = runner.dataset_paths(params["dataset"])
    fs = warm_cache(runner, lease, images, masks, FRDOptions(**params.get("options", {})))
    return public_result(
        {
            "images": len(fs),
            "features": len(fs.names),
            "cache_hits": fs.cache_hits,
            "ndim": fs.ndim,
            "skipped": [{"name": s.name, "reason": s.reason} for s in fs.skipped],
        },
        runner.settings.data_dir,
    )


def compare(runner: JobRunner, lease: Lease, params: dict) -> dict:
    options = FRDOptions(**params.get("options", {}))
    ref = params["reference"]
    reference: frd.ReferenceStats | Path
    if ref.startswith("st_"):
        reference = frd.ReferenceStats.load(runner.stats_path(ref))
        ref_masks = None
    else:
        reference, ref_masks = runner.dataset_paths(ref)
    candidate, cand_masks = runner.dataset_paths(params["candidate"])
    t = time.perf_counter()
    result = frd.compare(
        reference,
        candidate,
        reference_masks=ref_masks,
        candidate_masks=cand_masks,
        options=options,
        on_progress=runner.progress(lease),
        **run_kwargs(runner.settings, lease.job["owner"]),
    )
    EXTRACTION_SECONDS.observe(result.timings.get("extraction_s", time.perf_counter() - t))
    if params.get("bootstrap") or params.get("report"):
        result = enrich(runner, lease, result, options, params)
    return public_result(result.to_dict(), runner.settings.data_dir)


def enrich(runner: JobRunner, lease: Lease, result, options: FRDOptions, params: dict):
    """CI and report, computed in a child process: their seconds of Python work would
    otherwise hold this process's interpreter lock while requests wait."""
    import concurrent.futures as cf
    import multiprocessing

    from frd.executors import init_worker

    want_report = bool(params.get("report")) and _has_matplotlib()
    with cf.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("forkserver"), initializer=init_worker, initargs=(0, os.getpid())
    ) as pool:
        result, html = pool.submit(
            _enrich_in_child, result, options, params.get("bootstrap") or 0, want_report, options.seed or 0
        ).result()
    if html is not None:
        path = runner.report_path(lease.job_id)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(scrub(html, runner.settings.data_dir, any_path=False), encoding="utf-8")
        runner.place(lease, tmp, path)
    return result


def ood(runner: JobRunner, lease: Lease, params: dict) -> dict:
    options = FRDOptions(**params.get("options", {}))
    reference, ref_masks = runner.dataset_paths(params["reference"])
    test, test_masks = runner.dataset_paths(params["test"])
    screening = frd.ood(
        reference,
        test,
        reference_masks=ref_masks,
        test_masks=test_masks,
        options=options,
        assumption=params["assumption"],
        use_val_set=params["use_val_set"],
        val_frac=params["val_frac"],
        seed=params.get("seed"),
        on_progress=runner.progress(lease),
        **run_kwargs(runner.settings, lease.job["owner"]),
    )
    return public_result(screening.to_dict(), runner.settings.data_dir)


def stats(runner: JobRunner, lease: Lease, params: dict) -> dict:
    options = FRDOptions(**params.get("options", {}))
    images, masks = runner.dataset_paths(params["dataset"])
    warm_cache(runner, lease, images, masks, options)  # progress; the statistics then read the cache
    lease.check()
    stats = frd.compute_reference_stats(
        images, masks, options=options, **run_kwargs(runner.settings, lease.job["owner"])
    )
    stats_id = params["stats_id"]
    path = runner.stats_path(stats_id)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    stats.save(tmp)
    runner.place(lease, tmp, path)
    summary = {
        "id": stats_id,
        "dataset": params["dataset"],
        "n": stats.n,
        "n_features": int(stats.kept.sum()),
        "options": stats.options,
        "versions": stats.versions,
    }
    # The row is written with the job's end, in the same transaction, under the lease.
    lease.also.append(
        (
            "INSERT OR REPLACE INTO reference_stats (id, owner, dataset_id, job_id, created, summary) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (stats_id, lease.job["owner"], params["dataset"], lease.job_id, now(), dumps(summary)),
        )
    )
    return summary


def service_executor(settings: Settings):
    """Where the service extracts: the Dask scheduler of FRD_DASK_ADDRESS (the library
    connects and disconnects per run), else local worker processes of lower priority that
    never run on the threads answering requests (they would hold the GIL)."""
    from frd.executors import LocalExecutor

    return os.environ.get("FRD_DASK_ADDRESS") or LocalExecutor(
        settings.workers, nice=settings.worker_nice, isolate=True
    )


def run_kwargs(settings: Settings, owner: str) -> dict:
    """Keyword arguments of the library calls the service makes for ``owner``."""
    return dict(scheduler=service_executor(settings), cache_dir=settings.cache_dir(owner), progress=False)


def _has_matplotlib() -> bool:
    from frd.extras import missing

    return not missing("report")


def _enrich_in_child(result, options, bootstrap: int, report: bool, seed: int):
    from frd.analysis.report import enrich_result

    html = enrich_result(result, options, bootstrap=bootstrap, report=report, seed=seed)
    return result, html


def public_result(payload: dict, data_dir: Path) -> dict:
    """A library result without server paths (files are named by their dataset names)."""
    for item in payload.get("skipped", []):
        item.pop("path", None)
    payload.get("options", {}).pop("params_file", None)
    return scrub_result(payload, data_dir)


def public_message(exc: Exception, data_dir: Path) -> str:
    """An error message safe to show a client: no server paths, no traceback."""
    text = scrub(str(exc) or type(exc).__name__, data_dir)
    return text.splitlines()[0][:500] if text else type(exc).__name__


# job kind → what runs it
HANDLERS = {"extract": extract, "compare": compare, "stats": stats, "ood": ood}
