"""Durable jobs: queued in the database, claimed with a lease, run by worker threads.

A job row is claimed inside ``BEGIN IMMEDIATE`` (so two service processes on one data
dir never take the same job) and carries a lease that its runner renews while it works.
When a process dies (even by kill -9) its leases stop being renewed; the next process
takes such a job up again once the lease has expired — at once when the dead owner ran
on this host, as its pid shows. Every job is deterministic (same inputs, same options,
same value), so running one again after a crash gives the same result.

The work itself is the ``frd`` library, called by :mod:`api.work` (one function per kind
of job).
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
from typing import Any

from .db import Database, dumps, is_locked, now
from .metrics import JOB_SECONDS
from .settings import Settings
from .store import BlobStore, pid_alive
from .work import HANDLERS, public_message

log = logging.getLogger("frd.api.jobs")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class JobCancelled(Exception):
    pass


class LeaseLost(Exception):
    """Another runner holds the job now: this one stops and writes nothing more."""


class Lease:
    """This runner's claim on one job. ``lost`` is set by the heartbeat when a renewal
    finds another owner; every write of the job checks the lease in its own statement."""

    def __init__(self, job: dict, owner_id: str, until: float):
        self.job, self.job_id, self.owner_id, self.until = job, job["id"], owner_id, until
        self.lost = threading.Event()
        self.also: list[tuple[str, tuple]] = []  # statements committed with the job's end

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.job_id)


def new_job(conn, owner: str, kind: str, params: dict) -> str:
    job_id = "job_" + uuid.uuid4().hex[:20]
    conn.execute(
        "INSERT INTO jobs (id, owner, kind, state, params, created) VALUES (?, ?, ?, 'queued', ?, ?)",
        (job_id, owner, kind, dumps(params), now()),
    )
    return job_id


def job_datasets(params: dict) -> set[str]:
    """The datasets a job reads (reference-statistics ids are not datasets)."""
    return {
        params[k]
        for k in ("dataset", "reference", "candidate", "test")
        if isinstance(params.get(k), str) and params[k].startswith("ds_")
    }


_pid_alive = pid_alive


class JobRunner:
    """Claims and runs jobs on ``job_slots`` threads; never dies of a database error.

    Every loop (claiming, the lease heartbeat, a job's end) catches what it raises, logs
    it and backs off: a database locked for longer than its busy timeout delays jobs but
    stops nothing. Every write a job makes names this runner as the lease owner in its
    own statement, so a runner that lost its lease (its heartbeat could not renew it in
    time and another runner took the job) writes nothing more.
    """

    def __init__(self, db: Database, store: BlobStore, settings: Settings):
        self.db, self.store, self.settings = db, store, settings
        self.owner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, Lease] = {}
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

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

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

    def claim(self) -> Lease | None:
        with self._lock:
            mine = set(self._running)
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created LIMIT 50"
            ).fetchall()
            for row in rows:
                if row["id"] in mine or not self._claimable(row):
                    continue
                if row["state"] == "running" and row["attempts"] >= self.settings.max_attempts:
                    # Its runner died each time it ran it (out of memory, killed): running it
                    # again would take the service down again.
                    conn.execute(
                        "UPDATE jobs SET state = 'failed', error = ?, finished = ?, lease_owner = NULL, "
                        "lease_until = NULL WHERE id = ?",
                        (
                            f"the service stopped while running this job {row['attempts']} times (e.g. it ran "
                            "out of memory); it is not retried — try smaller sets or fewer workers",
                            now(),
                            row["id"],
                        ),
                    )
                    log.warning("job %s failed after %d interrupted attempts", row["id"], row["attempts"])
                    continue
                until = now() + self.settings.lease_seconds
                conn.execute(
                    "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, "
                    "started = COALESCE(started, ?), attempts = attempts + 1 WHERE id = ?",
                    (self.owner_id, until, now(), row["id"]),
                )
                return Lease(dict(row), self.owner_id, until)
        return None

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            with self._lock:
                leases = list(self._running.values())
            for lease in leases:
                try:
                    until = now() + self.settings.lease_seconds
                    renewed = self.db.execute(
                        "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                        until,
                        lease.job_id,
                        self.owner_id,
                    )
                except Exception:  # transient (locked): try again at the next beat
                    log.warning("renewing the lease of job %s failed; retrying", lease.job_id, exc_info=True)
                    continue
                if renewed:
                    lease.until = until
                else:
                    log.warning("job %s: lease lost to another runner; abandoning it", lease.job_id)
                    lease.lost.set()

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                lease = self.claim()
                backoff = 0.5
            except Exception:  # a locked or unavailable database must not kill the runner
                log.warning("claiming a job failed; retrying in %.1f s", backoff, exc_info=True)
                self._pause(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if lease is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            with self._lock:
                self._running[lease.job_id] = lease
            try:
                self._run(lease)
            except Exception:  # never strand a job in 'running' because of a bug here
                log.exception("job %s: the runner failed", lease.job_id)
                self._end(lease, "failed", error="internal error; the server log has the details")
            finally:
                with self._lock:
                    self._running.pop(lease.job_id, None)

    # ----- writing, under the lease ------------------------------------------------------
    def _end(self, lease: Lease, state: str, *, result=None, error: str | None = None) -> None:
        """The job's final write, with ``lease.also`` in the same transaction; retried
        through transient database errors until it is done, the lease is lost, or the
        service stops (then the job is retaken after a restart)."""
        backoff = 0.2
        while True:
            if lease.lost.is_set():
                return
            try:
                with self.db.transaction() as conn:
                    done = conn.execute(
                        "UPDATE jobs SET state = ?, result = ?, error = ?, finished = ?, lease_owner = NULL, "
                        "lease_until = NULL WHERE id = ? AND lease_owner = ?",
                        (
                            state,
                            dumps(result) if result is not None else None,
                            error,
                            now(),
                            lease.job_id,
                            self.owner_id,
                        ),
                    ).rowcount
                    if not done:
                        raise LeaseLost(lease.job_id)
                    for sql, args in lease.also:
                        conn.execute(sql, args)
                return
            except LeaseLost:
                log.warning("job %s: lease lost before its end was written; the new owner finishes it", lease.job_id)
                return
            except Exception:
                if self._stop.is_set():
                    log.warning("job %s: its end could not be written before shutdown", lease.job_id)
                    return
                log.warning("job %s: writing its end failed; retrying in %.1f s", lease.job_id, backoff, exc_info=True)
                self._pause(backoff)
                backoff = min(backoff * 2, 5.0)

    def _holds(self, lease: Lease) -> None:
        """LeaseLost unless the database still names this runner as the job's owner."""
        lease.check()
        row = self.db.one("SELECT lease_owner FROM jobs WHERE id = ?", lease.job_id)
        if row is None or row["lease_owner"] != self.owner_id:
            lease.lost.set()
            raise LeaseLost(lease.job_id)

    def progress(self, lease: Lease):
        def report(done: int, total: int) -> None:
            lease.check()
            row = self.db.one("SELECT cancel_requested, lease_owner FROM jobs WHERE id = ?", lease.job_id)
            if row is None or row["cancel_requested"]:
                raise JobCancelled()
            if row["lease_owner"] != self.owner_id:
                lease.lost.set()
                raise LeaseLost(lease.job_id)
            try:  # progress is best effort: a locked database must not fail the job
                self.db.execute(
                    "UPDATE jobs SET done = ?, total = ? WHERE id = ? AND lease_owner = ?",
                    done,
                    total,
                    lease.job_id,
                    self.owner_id,
                )
            except Exception as exc:
                if not is_locked(exc):
                    raise
                log.info("job %s: progress not recorded (database busy)", lease.job_id)

        return report

    # ----- running -----------------------------------------------------------------------
    def _run(self, lease: Lease) -> None:
        job = lease.job
        params = json.loads(job["params"])
        started = time.perf_counter()
        outcome: dict[str, Any]
        try:
            result = HANDLERS[job["kind"]](self, lease, params)
        except LeaseLost:
            log.warning("job %s: lease lost while running; abandoned to its new owner", lease.job_id)
            return
        except JobCancelled:
            outcome = dict(state="cancelled", error="cancelled by request")
        except Exception as exc:
            log.info("job %s failed: %s", job["id"], exc)
            outcome = dict(state="failed", error=public_message(exc, self.settings.data_dir))
        else:
            row = self.db.one("SELECT cancel_requested FROM jobs WHERE id = ?", job["id"])
            if row is not None and row["cancel_requested"]:
                outcome = dict(state="cancelled", error="cancelled by request")
            else:
                outcome = dict(state="succeeded", result=result)
        finally:
            JOB_SECONDS.labels(kind=job["kind"]).observe(time.perf_counter() - started)
        if outcome["state"] != "succeeded":
            lease.also.clear()
        self._end(lease, **outcome)

    def dataset_paths(self, dataset_id: str) -> tuple[Path, Path | None]:
        rows = self.db.all("SELECT role, name, sha256 FROM dataset_files WHERE dataset_id = ?", dataset_id)
        if not rows:
            raise LookupError(f"dataset {dataset_id} no longer exists")
        try:
            view = self.store.blob_view(dataset_id, [(r["role"], r["name"], r["sha256"]) for r in rows])
        except FileNotFoundError:
            raise LookupError(f"the files of dataset {dataset_id} are no longer stored") from None
        masks = view / "masks" if any(r["role"] == "mask" for r in rows) else None
        return view / "images", masks

    def report_path(self, job_id: str) -> Path:
        return self.store.root / "reports" / f"{job_id}.html"

    def stats_path(self, stats_id: str) -> Path:
        return self.store.root / "stats" / f"{stats_id}.frdstats"

    def place(self, lease: Lease, tmp: Path, path: Path) -> None:
        """Move a finished file of the job into place while this runner holds the lease
        (a runner that lost it leaves the file to the new owner, which writes the same)."""
        try:
            self._holds(lease)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
