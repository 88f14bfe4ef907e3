"""The service's state in one SQLite database (WAL): datasets, files, jobs, results.

Every write is a short transaction; a connection per thread; ``BEGIN IMMEDIATE`` where a
read decides a write (claiming a job), so two service processes sharing the data dir
never take the same job.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import weakref
from pathlib import Path

log = logging.getLogger("frd.api")
_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    extraction_job TEXT,
    name TEXT                      -- the uploader's label (e.g. the folder's name), optional
);
CREATE TABLE IF NOT EXISTS dataset_files (
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    role TEXT NOT NULL,            -- 'image' or 'mask'
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL,            -- detected content type
    value_span REAL,               -- max - min the header's integer pixel type holds (NULL: float)
    PRIMARY KEY (dataset_id, role, name)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,            -- 'extract', 'compare', 'stats'
    state TEXT NOT NULL,           -- queued, running, succeeded, failed, cancelled
    params TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    lease_owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created);
CREATE INDEX IF NOT EXISTS jobs_by_finished ON jobs (finished);
CREATE INDEX IF NOT EXISTS dataset_files_by_blob ON dataset_files (sha256);
CREATE INDEX IF NOT EXISTS datasets_by_created ON datasets (created);
CREATE TABLE IF NOT EXISTS reference_stats (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created REAL NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
-- The listings (GET /v1/datasets, /v1/comparisons, ...): one tenant's rows, newest first.
CREATE INDEX IF NOT EXISTS datasets_by_owner ON datasets (owner, created);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, kind, created);
CREATE INDEX IF NOT EXISTS reference_stats_by_owner ON reference_stats (owner, created);
"""

# Columns added after a release: a data dir made before them gets them on start.
ADDED_COLUMNS = (("dataset_files", "value_span", "REAL"), ("datasets", "name", "TEXT"))


class Database:
    """``busy_timeout``: how long a write waits for another writer's lock before it fails
    with "database is locked" — short, so that a request answers 503 rather than holding a
    thread, and the job runner backs off and retries rather than hanging."""

    def __init__(self, path: Path, busy_timeout: float = 5.0):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        _DATABASES.add(self)
        conn = self.connect()
        for table, column, kind in ADDED_COLUMNS:  # before the schema: its indexes may use them
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                if column not in {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        conn.executescript(SCHEMA)  # idempotent; executescript manages its own transaction

    def connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # an acknowledged write survives power loss
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def transaction(self):
        return _Transaction(self.connect())

    def one(self, sql: str, *args) -> sqlite3.Row | None:
        return self.connect().execute(sql, args).fetchone()

    def all(self, sql: str, *args) -> list[sqlite3.Row]:
        return self.connect().execute(sql, args).fetchall()

    def execute(self, sql: str, *args) -> int:
        with self.transaction() as db:
            return db.execute(sql, args).rowcount


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                # A failed COMMIT (the lock, a full disk) leaves the transaction open, and a
                # connection inside a write transaction blocks every other writer.
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        """Roll back; a failure here is logged, never raised over the original error."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except Exception:
            log.warning("ROLLBACK failed; closing the connection", exc_info=True)
            try:
                self.conn.close()  # a closed connection's transaction is rolled back by SQLite
            finally:
                _forget(self.conn)


def _forget(conn) -> None:
    """Drop a closed connection from every thread-local slot that holds it."""
    for db in list(_DATABASES):
        if getattr(db._local, "conn", None) is conn:
            db._local.conn = None


def is_locked(exc: BaseException) -> bool:
    """A transient database error: another writer holds the lock, or the disk is busy."""
    return isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in ("locked", "busy"))


def now() -> float:
    return time.time()


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
