"""Feature cache: per-image feature vectors in an embedded SQLite file.

A vector is stored under a key hashing the image bytes, the mask bytes, the extraction
fingerprint of the options and the pyradiomics version, so any change to one of them
misses. SQLite in WAL mode with a busy timeout lets concurrent runs (several CLI
processes, the service's workers) share one cache without corrupting it: each write is a
single short transaction, and readers never block writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .errors import CacheError

SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_names (
    id INTEGER PRIMARY KEY,
    digest TEXT UNIQUE NOT NULL,
    names TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    key TEXT PRIMARY KEY,
    names_id INTEGER NOT NULL REFERENCES feature_names(id),
    ndim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created REAL NOT NULL
);
"""


def default_cache_dir() -> Path:
    """``$FRD_CACHE_DIR``, else the user's cache folder (e.g. ~/.cache/frd)."""
    env = os.environ.get("FRD_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("frd", appauthor=False))


def cache_key(image_hash: str, mask_hash: str | None, fingerprint: str, engine_version: str) -> str:
    """The cache key of one image's vector: image and mask bytes, extraction options, pyradiomics."""
    text = "\n".join((image_hash, mask_hash or "-", fingerprint, engine_version))
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureCache:
    """A process-local handle on the shared cache file (open one per process)."""

    def __init__(self, directory: str | Path | None = None):
        import sqlite3  # here: a run without a cache never loads it

        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / "features.sqlite3"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(
                f"feature cache {self.directory} cannot be used ({exc}); choose another "
                "folder with --cache-dir / FRD_CACHE_DIR, or run with --no-cache"
            ) from None
        self._names_by_id: dict[int, tuple[str, ...]] = {}
        self._id_by_digest: dict[str, int] = {}

    def close(self) -> None:
        """Close this process's connection to the cache file."""
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _names(self, names_id: int) -> tuple[str, ...]:
        if names_id not in self._names_by_id:
            row = self._db.execute("SELECT names FROM feature_names WHERE id = ?", (names_id,)).fetchone()
            self._names_by_id[names_id] = tuple(json.loads(row[0]))
        return self._names_by_id[names_id]

    def _names_id(self, names: tuple[str, ...]) -> int:
        text = json.dumps(list(names))
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in self._id_by_digest:
            self._db.execute("INSERT OR IGNORE INTO feature_names (digest, names) VALUES (?, ?)", (digest, text))
            row = self._db.execute("SELECT id FROM feature_names WHERE digest = ?", (digest,)).fetchone()
            self._id_by_digest[digest] = row[0]
            self._names_by_id[row[0]] = names
        return self._id_by_digest[digest]

    def _rows(self, columns: str, keys: list[str]):
        """Rows ``key, <columns>`` of the present keys (queried in batches of 500)."""
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"SELECT key, {columns} FROM features WHERE key IN ({marks})", chunk)

    def get_many(self, keys: list[str]) -> dict[str, tuple[tuple[str, ...], np.ndarray, int]]:
        """The cached (names, values, ndim) of every key that is present."""
        found = {}
        for key, names_id, ndim, blob in self._rows("names_id, ndim, vector", keys):
            values = np.frombuffer(blob, dtype="<f8").astype(np.float64)
            names = self._names(names_id)
            if len(names) == len(values):  # a damaged row is a miss, never wrong data
                found[key] = (names, values, int(ndim))
        return found

    def get_meta_many(self, keys: list[str]) -> dict[str, tuple[tuple[str, ...], int]]:
        """(names, ndim) of every cached key, without loading the vectors."""
        return {key: (self._names(names_id), int(ndim)) for key, names_id, ndim in self._rows("names_id, ndim", keys)}

    def get_vectors(self, keys: list[str]) -> np.ndarray:
        """The vectors of ``keys`` (all cached, same length) stacked in the order given."""
        found = self.get_many(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise KeyError(f"{len(missing)} feature vectors vanished from the cache during the run")
        return np.vstack([found[k][1] for k in keys])

    def put(self, key: str, names: tuple[str, ...], values: np.ndarray, ndim: int) -> None:
        """Store one image's vector under ``key`` (one short write transaction)."""
        blob = np.ascontiguousarray(values, dtype="<f8").tobytes()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            names_id = self._names_id(tuple(names))
            self._db.execute(
                "INSERT OR REPLACE INTO features (key, names_id, ndim, vector, created) VALUES (?, ?, ?, ?, ?)",
                (key, names_id, ndim, blob, time.time()),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._id_by_digest.clear()  # an id assigned inside the rolled-back transaction
            raise

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0]
