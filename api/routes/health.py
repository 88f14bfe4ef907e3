"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import services
from ..metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz():
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable, data dir writable, job runner alive")
def readyz(request: Request):
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
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics():
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
