"""Job status and cancellation (the asynchronous job contract: 202 + Location → poll)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ..auth import require_owner
from ..db import now
from ..deps import job_view, owned, services

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", summary="Your jobs, newest first")
def list_jobs(request: Request, owner: str = Depends(require_owner), limit: int = 50):
    db, *_ = services(request)
    rows = db.all("SELECT * FROM jobs WHERE owner = ? ORDER BY created DESC LIMIT ?", owner, min(max(limit, 1), 500))
    return {"jobs": [job_view(r) for r in rows]}


@router.get("/{job_id}", summary="State, progress and result link of a job")
async def get_job(job_id: str, request: Request, owner: str = Depends(require_owner)):
    # The hot polling path: one indexed SQLite read (WAL readers never wait for writers),
    # answered on the event loop without a thread hand-off.
    db, *_ = services(request)
    view = job_view(owned(db, "jobs", job_id, owner, "job"))
    headers = {"Retry-After": "1"} if view["state"] in ("queued", "running") else None
    return JSONResponse(view, headers=headers)


@router.delete("/{job_id}", summary="Cancel a queued or running job")
def cancel_job(job_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    owned(db, "jobs", job_id, owner, "job")
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state IN ('queued', 'running')", (job_id,))
        # A queued job is cancelled at once; a running one stops at its next progress step.
        conn.execute(
            "UPDATE jobs SET state = 'cancelled', error = 'cancelled by request', finished = ? "
            "WHERE id = ? AND state = 'queued'",
            (now(), job_id),
        )
    row = db.one("SELECT * FROM jobs WHERE id = ?", job_id)
    return Response(
        status_code=202 if row["state"] == "running" else 200,
        content=json.dumps(job_view(row)),
        media_type="application/json",
    )
