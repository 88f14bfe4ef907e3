"""Prometheus metrics: jobs by state (read from the database at scrape time, so every
process reports the shared truth), extraction and job durations, upload bytes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

UPLOAD_BYTES = Counter("frd_upload_bytes_total", "Bytes of accepted uploaded files", registry=REGISTRY)
EXTRACTION_SECONDS = Histogram(
    "frd_extraction_seconds",
    "Feature extraction time per job",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "frd_job_seconds",
    "Job run time by kind",
    ["kind"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)


class JobStateCollector:
    def __init__(self, db):
        self.db = db

    def collect(self):
        family = GaugeMetricFamily("frd_jobs", "Jobs by kind and state", labels=["kind", "state"])
        for row in self.db.all("SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state"):
            family.add_metric([row["kind"], row["state"]], row["n"])
        yield family
