"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..auth import require_metrics_access
from ..deps import services
from ..metrics import REGISTRY

router = APIRouter(tags=["operations"])


# Liveness and readiness are answered on the event loop: a sync handler would wait for a
# thread of the pool, and those may all be waiting on a locked database.
@router.get("/healthz", summary="The process is up")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable, data dir writable, job runner alive")
async def readyz(request: Request):
    db, store, runner, settings = services(request)
    checks = {}
    try:
        db.one("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    checks["data_dir"] = "ok" if os.access(store.root, os.W_OK) else "not writable"
    checks["job_runner"] = "ok" if runner.alive else "stopped"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (FRD_METRICS_KEY, else loopback clients only)",
    dependencies=[Depends(require_metrics_access)],
)
def metrics():
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
