"""Durable jobs: queued in the database, claimed with a lease, run by worker threads.

A job row is claimed inside ``BEGIN IMMEDIATE`` (so two service processes on one data
dir never take the same job) and carries a lease that its runner renews while it works.
When a process dies (even by kill -9) its leases stop being renewed; the next process
takes such a job up again once the lease has expired — at once when the dead owner ran
on this host, as its pid shows. Every job is deterministic (same inputs, same options,
same value), so running one again after a crash gives the same result.

The work itself is the ``frd`` library: extraction warms the feature cache, comparisons
call :func:`frd.compare`, reference statistics :func:`frd.compute_reference_stats`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import frd
from frd.options import FRDOptions

from .db import Database, dumps, now
from .metrics import EXTRACTION_SECONDS, JOB_SECONDS
from .settings import Settings
from .store import BlobStore

log = logging.getLogger("frd.api.jobs")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class JobCancelled(Exception):
    pass


def new_job(conn, owner: str, kind: str, params: dict) -> str:
    job_id = "job_" + uuid.uuid4().hex[:20]
    conn.execute(
        "INSERT INTO jobs (id, owner, kind, state, params, created) VALUES (?, ?, ?, 'queued', ?, ?)",
        (job_id, owner, kind, dumps(params), now()),
    )
    return job_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRunner:
    def __init__(self, db: Database, store: BlobStore, settings: Settings):
        self.db, self.store, self.settings = db, store, settings
        self.owner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: set[str] = set()
        self._lock = threading.Lock()

    # ----- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        for i in range(max(1, self.settings.job_slots)):
            t = threading.Thread(target=self._loop, name=f"frd-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat, name="frd-job-lease", daemon=True)
        hb.start()
        self._threads.append(hb)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    # ----- claiming ----------------------------------------------------------------------
    def _claimable(self, row) -> bool:
        if row["state"] == "queued":
            return True
        if row["lease_until"] is not None and row["lease_until"] < now():
            return True
        host, _, rest = (row["lease_owner"] or "").partition(":")
        pid = rest.split(":", 1)[0]
        # A dead owner on this host is known dead at once; elsewhere its lease must expire.
        return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))

    def claim(self) -> dict | None:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created LIMIT 50"
            ).fetchall()
            for row in rows:
                if row["lease_owner"] == self.owner_id or not self._claimable(row):
                    continue
                conn.execute(
                    "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, "
                    "started = COALESCE(started, ?), attempts = attempts + 1 WHERE id = ?",
                    (self.owner_id, now() + self.settings.lease_seconds, now(), row["id"]),
                )
                return dict(row)
        return None

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            with self._lock:
                ids = list(self._running)
            for job_id in ids:
                self.db.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                    now() + self.settings.lease_seconds, job_id, self.owner_id,
                )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.claim()
            except Exception:  # a locked or unavailable database must not kill the runner
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            with self._lock:
                self._running.add(job["id"])
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running.discard(job["id"])

    # ----- running -----------------------------------------------------------------------
    def _finish(self, job_id: str, state: str, *, result=None, error: str | None = None) -> None:
        self.db.execute(
            "UPDATE jobs SET state = ?, result = ?, error = ?, finished = ?, lease_owner = NULL, "
            "lease_until = NULL WHERE id = ? AND lease_owner = ?",
            state, dumps(result) if result is not None else None, error, now(), job_id, self.owner_id,
        )

    def _progress(self, job_id: str):
        def report(done: int, total: int) -> None:
            row = self.db.one("SELECT cancel_requested FROM jobs WHERE id = ?", job_id)
            if row is None or row["cancel_requested"]:
                raise JobCancelled()
            self.db.execute("UPDATE jobs SET done = ?, total = ? WHERE id = ? AND lease_owner = ?",
                            done, total, job_id, self.owner_id)
        return report

    def _run(self, job: dict) -> None:
        params = json.loads(job["params"])
        started = time.perf_counter()
        try:
            handler = {"extract": self._extract, "compare": self._compare, "stats": self._stats,
                       "ood": self._ood}[job["kind"]]
            result = handler(job, params)
        except JobCancelled:
            self._finish(job["id"], "cancelled", error="cancelled by request")
        except Exception as exc:
            log.info("job %s failed: %s", job["id"], exc)
            self._finish(job["id"], "failed", error=public_message(exc, self.settings.data_dir))
        else:
            row = self.db.one("SELECT cancel_requested FROM jobs WHERE id = ?", job["id"])
            if row is not None and row["cancel_requested"]:
                self._finish(job["id"], "cancelled", error="cancelled by request")
            else:
                self._finish(job["id"], "succeeded", result=result)
        finally:
            JOB_SECONDS.labels(kind=job["kind"]).observe(time.perf_counter() - started)

    def dataset_paths(self, dataset_id: str) -> tuple[Path, Path | None]:
        rows = self.db.all("SELECT role, name, sha256 FROM dataset_files WHERE dataset_id = ?", dataset_id)
        if not rows:
            raise LookupError(f"dataset {dataset_id} no longer exists")
        view = self.store.dataset_view(dataset_id, [(r["role"], r["name"], r["sha256"]) for r in rows])
        masks = view / "masks" if any(r["role"] == "mask" for r in rows) else None
        return view / "images", masks

    @property
    def _run_kwargs(self) -> dict:
        """How the library runs for the service: its executor and shared feature cache."""
        return run_kwargs(self.settings)

    def _extract(self, job: dict, params: dict) -> dict:
        images, masks = self.dataset_paths(params["dataset"])
        t = time.perf_counter()
        from frd.cache import FeatureCache
        from frd.featureset import extract_sets
        from frd.inputs import load_set

        with FeatureCache(self.settings.cache_dir) as cache:
            fs = extract_sets([load_set(images, masks)], FRDOptions(**params.get("options", {})),
                              scheduler=service_executor(self.settings), cache=cache, progress=False,
                              on_progress=self._progress(job["id"]))[0]
        EXTRACTION_SECONDS.observe(time.perf_counter() - t)
        return {"images": len(fs), "features": len(fs.names), "cache_hits": fs.cache_hits, "ndim": fs.ndim,
                "skipped": [{"name": s.name, "reason": s.reason} for s in fs.skipped]}

    def _compare(self, job: dict, params: dict) -> dict:
        options = FRDOptions(**params.get("options", {}))
        ref = params["reference"]
        if ref.startswith("st_"):
            reference = frd.ReferenceStats.load(self.store.root / "stats" / f"{ref}.frdstats")
            ref_masks = None
        else:
            reference, ref_masks = self.dataset_paths(ref)
        candidate, cand_masks = self.dataset_paths(params["candidate"])
        t = time.perf_counter()
        result = frd.compare(reference, candidate, reference_masks=ref_masks, candidate_masks=cand_masks,
                             options=options, on_progress=self._progress(job["id"]),
                             **self._run_kwargs)
        EXTRACTION_SECONDS.observe(result.timings.get("extraction_s", time.perf_counter() - t))
        if params.get("bootstrap") or params.get("report"):
            result = self._enrich(job["id"], result, options, params)
        return public_result(result.to_dict())

    def report_path(self, job_id: str) -> Path:
        return self.store.root / "reports" / f"{job_id}.html"

    def _enrich(self, job_id: str, result, options: FRDOptions, params: dict):
        """CI and report, computed in a child process: their seconds of Python work would
        otherwise hold this process's interpreter lock while requests wait."""
        import concurrent.futures as cf
        import multiprocessing

        want_report = bool(params.get("report")) and _has_matplotlib()
        with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
            result, html = pool.submit(_enrich_in_child, result, options, params.get("bootstrap") or 0,
                                       want_report, options.seed or 0).result()
        if html is not None:
            path = self.report_path(job_id)
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(public_message_text(html, self.settings.data_dir), encoding="utf-8")
            tmp.replace(path)
        return result

    def _ood(self, job: dict, params: dict) -> dict:
        options = FRDOptions(**params.get("options", {}))
        reference, ref_masks = self.dataset_paths(params["reference"])
        test, test_masks = self.dataset_paths(params["test"])
        screening = frd.ood(reference, test, reference_masks=ref_masks, test_masks=test_masks, options=options,
                            assumption=params["assumption"], use_val_set=params["use_val_set"],
                            val_frac=params["val_frac"], seed=params.get("seed"),
                            on_progress=self._progress(job["id"]), **self._run_kwargs)
        return public_result(screening.to_dict())

    def _stats(self, job: dict, params: dict) -> dict:
        options = FRDOptions(**params.get("options", {}))
        images, masks = self.dataset_paths(params["dataset"])
        stats = frd.compute_reference_stats(images, masks, options=options, **self._run_kwargs)
        stats_id = params["stats_id"]
        folder = self.store.root / "stats"
        folder.mkdir(exist_ok=True)
        stats.save(folder / f"{stats_id}.frdstats")
        summary = {"id": stats_id, "dataset": params["dataset"], "n": stats.n,
                   "n_features": int(stats.kept.sum()), "options": stats.options, "versions": stats.versions}
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO reference_stats (id, owner, dataset_id, job_id, created, summary) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (stats_id, job["owner"], params["dataset"], job["id"], now(), dumps(summary)),
            )
        return summary


def service_executor(settings: Settings):
    """Where the service extracts: the Dask scheduler of FRD_DASK_ADDRESS (the library
    connects and disconnects per run), else local worker processes of lower priority that
    never run on the threads answering requests (they would hold the GIL)."""
    import os

    from frd.executors import LocalExecutor

    return os.environ.get("FRD_DASK_ADDRESS") or LocalExecutor(
        settings.workers, nice=settings.worker_nice, isolate=True)


def run_kwargs(settings: Settings) -> dict:
    """Keyword arguments of the library calls the service makes."""
    return dict(scheduler=service_executor(settings), cache_dir=settings.cache_dir, progress=False)


def _has_matplotlib() -> bool:
    from frd.extras import missing

    return not missing("report")


def _enrich_in_child(result, options, bootstrap: int, report: bool, seed: int):
    from frd.analysis.report import enrich_result

    html = enrich_result(result, options, bootstrap=bootstrap, report=report, seed=seed)
    return result, html


def public_result(payload: dict) -> dict:
    """A library result without server paths (files are named by their dataset names)."""
    for item in payload.get("skipped", []):
        item.pop("path", None)
    payload.get("options", {}).pop("params_file", None)
    return payload


def public_message_text(text: str, data_dir: Path) -> str:
    """``text`` without the server's data-dir paths (dataset files keep their names)."""
    for root in {str(Path(data_dir).resolve()), str(data_dir)}:
        text = text.replace(root + "/datasets/", "").replace(root, "<data>")
    return text


def public_message(exc: Exception, data_dir: Path) -> str:
    """An error message safe to show a client: no server paths, no traceback."""
    text = public_message_text(str(exc) or type(exc).__name__, data_dir)
    return text.splitlines()[0][:500] if text else type(exc).__name__
