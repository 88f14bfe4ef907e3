"""Deleting what the service keeps: datasets (and the blobs no other dataset uses), job
results and reports, reference statistics, feature-cache entries — on request, when the
retention period (``FRD_RETENTION_DAYS``) has passed, and whatever a crash left behind.

Every blob deletion happens inside a write transaction of the database, which an upload
recording its files also holds (see :class:`api.store.BlobStore`), so a blob is never
deleted under a dataset that is being recorded with it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time

from .db import Database, now
from .jobs import job_datasets
from .settings import Settings
from .store import BlobStore

log = logging.getLogger("frd.api")
GRACE_SECONDS = 600  # a view or file without its row is left this long (it may be being made)


class DatasetInUse(Exception):
    def __init__(self, jobs: list[str]):
        super().__init__(f"used by {len(jobs)} queued or running job(s)")
        self.jobs = jobs


def delete_dataset(db: Database, store: BlobStore, dataset_id: str) -> bool:
    """Delete a dataset, its files' rows, the blobs no other dataset names and its view.
    :class:`DatasetInUse` while a queued or running job (other than its own upload-time
    extraction, which is cancelled) reads it: a job never runs on part of a dataset."""
    with db.transaction() as conn:
        row = conn.execute("SELECT owner, extraction_job FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            return False
        active = conn.execute(
            "SELECT id, params FROM jobs WHERE owner = ? AND state IN ('queued', 'running')", (row["owner"],)
        ).fetchall()
        users = [
            j["id"]
            for j in active
            if j["id"] != row["extraction_job"] and dataset_id in job_datasets(json.loads(j["params"]))
        ]
        if users:
            raise DatasetInUse(users)
        if row["extraction_job"]:
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', error = 'the dataset was deleted', finished = ? "
                "WHERE id = ? AND state = 'queued'",
                (now(), row["extraction_job"]),
            )
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (row["extraction_job"],))
        shas = [
            r["sha256"] for r in conn.execute("SELECT sha256 FROM dataset_files WHERE dataset_id = ?", (dataset_id,))
        ]
        conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))  # files cascade
        store.delete_unreferenced(conn, shas)
    store.drop_view(dataset_id)
    return True


def delete_job(db: Database, store: BlobStore, job_id: str) -> None:
    """A finished job's row, its idempotency key and its report."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM idempotency WHERE job_id = ?", (job_id,))
        conn.execute("UPDATE datasets SET extraction_job = NULL WHERE extraction_job = ?", (job_id,))
        conn.execute("DELETE FROM jobs WHERE id = ? AND state IN ('succeeded', 'failed', 'cancelled')", (job_id,))
    (store.root / "reports" / f"{job_id}.html").unlink(missing_ok=True)


def delete_stats(db: Database, store: BlobStore, stats_id: str) -> None:
    db.execute("DELETE FROM reference_stats WHERE id = ?", stats_id)
    (store.root / "stats" / f"{stats_id}.frdstats").unlink(missing_ok=True)


class Janitor:
    """Expires data past the retention period and removes what failed requests and dead
    processes left, at start-up and every ``sweep_seconds``; a failed sweep is logged
    and tried again at the next one."""

    def __init__(self, db: Database, store: BlobStore, settings: Settings):
        self.db, self.store, self.settings = db, store, settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="frd-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                log.warning(
                    "the clean-up sweep failed; it runs again in %.0f s", self.settings.sweep_seconds, exc_info=True
                )
            self._stop.wait(self.settings.sweep_seconds)

    def sweep(self) -> dict:
        counts = {"temps": self.store.clean_dead_temps()}
        if self.settings.retention_days > 0:
            counts.update(self.expire(now() - self.settings.retention_days * 86400))
        counts.update(self.orphans())
        if any(counts.values()):
            log.info("clean-up sweep: %s", counts)
        return counts

    def expire(self, cutoff: float) -> dict:
        """Delete datasets, finished jobs, statistics and cache entries older than ``cutoff``."""
        datasets = 0
        for row in self.db.all("SELECT id FROM datasets WHERE created < ?", cutoff):
            try:
                datasets += delete_dataset(self.db, self.store, row["id"])
            except DatasetInUse:
                pass  # expires at a later sweep, once its jobs have ended
        jobs = self.db.all("SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", cutoff)
        for row in jobs:
            delete_job(self.db, self.store, row["id"])
        stats = self.db.all("SELECT id FROM reference_stats WHERE created < ?", cutoff)
        for row in stats:
            delete_stats(self.db, self.store, row["id"])
        features = 0
        for path in sorted((self.settings.data_dir / "cache").glob("*/features.sqlite3")):
            with sqlite3.connect(path, timeout=self.settings.db_busy_timeout) as cache:
                features += cache.execute("DELETE FROM features WHERE created < ?", (cutoff,)).rowcount
            cache.close()
        return {
            "expired_datasets": datasets,
            "expired_jobs": len(jobs),
            "expired_stats": len(stats),
            "expired_features": features,
        }

    def orphans(self) -> dict:
        """Blobs no dataset names, views of deleted datasets, reports and statistics
        files of deleted rows (the last two only after a grace period)."""
        blobs = 0
        for prefix in self.store.blob_prefixes():
            with self.db.transaction() as conn:
                blobs += self.store.delete_unreferenced(conn, self.store.blob_shas(prefix))
        old = time.time() - GRACE_SECONDS
        views = 0
        for view in list(self.store.views.iterdir()):
            if view.stat().st_mtime < old and self.db.one("SELECT 1 FROM datasets WHERE id = ?", view.name) is None:
                shutil.rmtree(view, ignore_errors=True) if view.is_dir() else view.unlink(missing_ok=True)
                views += 1
        files = 0
        for folder, table in (("reports", "jobs"), ("stats", "reference_stats")):
            for path in (self.store.root / folder).glob("*"):
                key = path.name.split(".", 1)[0]
                if path.stat().st_mtime < old and self.db.one(f"SELECT 1 FROM {table} WHERE id = ?", key) is None:
                    path.unlink(missing_ok=True)
                    files += 1
        return {"orphan_blobs": blobs, "orphan_views": views, "orphan_files": files}
