"""Service configuration, read from the environment (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("frd-data")
    api_keys: tuple[str, ...] = ()
    max_request_bytes: int = 4096 * MB
    max_file_bytes: int = 1024 * MB
    max_files: int = 10_000
    max_image_voxels: int = 512 * 1024 * 1024
    max_archive_members: int = 20_000
    max_archive_ratio: float = 200.0
    sync_max_files: int = 64
    workers: int | None = None  # extraction processes per job; None = all cores
    job_slots: int = 1  # jobs run at once by this process
    lease_seconds: float = 30.0
    worker_nice: int = 10  # extraction workers' niceness: requests stay responsive
    allow_public_without_keys: bool = False
    extract_on_upload: bool = True
    max_attempts: int = 3  # a job interrupted this often (its process died) fails instead
    db_busy_timeout: float = 5.0  # seconds a write waits for the database's lock
    sync_slots: int = 1  # synchronous comparisons (POST /v1/frd) run at once; more get 429
    sync_queue: int = 4  # ... and how many may wait for a slot
    max_json_bytes: int = 1 * MB  # any JSON body
    retention_days: float = 0.0  # 0: keep until deleted; else datasets, results, stats expire
    sweep_seconds: float = 600.0  # how often expired and orphaned data is deleted
    metrics_key: str = ""  # Bearer key for /metrics; without it, loopback clients only
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        keys = tuple(k.strip() for k in os.environ.get("FRD_API_KEYS", "").split(",") if k.strip())
        workers = os.environ.get("FRD_WORKERS")
        values = dict(
            data_dir=Path(os.environ.get("FRD_DATA_DIR", "frd-data")),
            api_keys=keys,
            max_request_bytes=_int("FRD_MAX_REQUEST_MB", 4096) * MB,
            max_file_bytes=_int("FRD_MAX_FILE_MB", 1024) * MB,
            max_files=_int("FRD_MAX_FILES", 10_000),
            max_image_voxels=_int("FRD_MAX_IMAGE_VOXELS", 512 * 1024 * 1024),
            max_archive_members=_int("FRD_MAX_ARCHIVE_MEMBERS", 20_000),
            max_archive_ratio=_float("FRD_MAX_ARCHIVE_RATIO", 200.0),
            sync_max_files=_int("FRD_SYNC_MAX_FILES", 64),
            workers=int(workers) if workers else None,
            job_slots=_int("FRD_JOB_SLOTS", 1),
            lease_seconds=_float("FRD_LEASE_SECONDS", 30.0),
            worker_nice=_int("FRD_WORKER_NICE", 10),
            allow_public_without_keys=os.environ.get("FRD_ALLOW_PUBLIC_WITHOUT_KEYS", "") == "1",
            extract_on_upload=os.environ.get("FRD_EXTRACT_ON_UPLOAD", "1") != "0",
            max_attempts=_int("FRD_MAX_ATTEMPTS", 3),
            db_busy_timeout=_float("FRD_DB_BUSY_TIMEOUT", 5.0),
            sync_slots=_int("FRD_SYNC_SLOTS", 1),
            sync_queue=_int("FRD_SYNC_QUEUE", 4),
            max_json_bytes=_int("FRD_MAX_JSON_KB", 1024) * 1024,
            retention_days=_float("FRD_RETENTION_DAYS", 0.0),
            sweep_seconds=_float("FRD_SWEEP_SECONDS", 600.0),
            metrics_key=os.environ.get("FRD_METRICS_KEY", "").strip(),
        )
        values.update(overrides)
        return cls(**values)

    def cache_dir(self, owner: str) -> Path:
        """The feature cache of one tenant: a cache hit never tells that another tenant
        processed the same image (neither in ``cache_hits`` nor by a faster answer)."""
        return self.data_dir / "cache" / owner
