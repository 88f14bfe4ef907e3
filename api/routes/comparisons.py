"""Comparisons as jobs: POST answers 202 with the job's Location; GET gives the result."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ..auth import require_owner
from ..deps import job_view, owned, services
from ..errors import ApiError
from ..jobs import new_job
from ..schemas import ComparisonRequest, OODRequest

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])


def check_reference(db, ref: str, owner: str) -> None:
    if ref.startswith("st_"):
        owned(db, "reference_stats", ref, owner, "reference statistics")
    else:
        owned(db, "datasets", ref, owner, "dataset")


def submit(request: Request, owner: str, kind: str, params: dict, idempotency_key: str | None) -> JSONResponse:
    """Queue a job (or, for a repeated Idempotency-Key, return the job it created)."""
    db, _, runner, _ = services(request)
    request_hash = hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()
    with db.transaction() as conn:
        if idempotency_key:
            row = conn.execute("SELECT request_hash, job_id FROM idempotency WHERE owner = ? AND key = ?",
                               (owner, idempotency_key)).fetchone()
            if row is not None:
                if row["request_hash"] != request_hash:
                    raise ApiError(422, "idempotency_key_reused",
                                   "this Idempotency-Key was used for a different request")
                job_id = row["job_id"]
            else:
                job_id = new_job(conn, owner, kind, params)
                conn.execute("INSERT INTO idempotency (owner, key, request_hash, job_id) VALUES (?, ?, ?, ?)",
                             (owner, idempotency_key, request_hash, job_id))
        else:
            job_id = new_job(conn, owner, kind, params)
    runner.wake()
    job = db.one("SELECT * FROM jobs WHERE id = ?", job_id)
    return JSONResponse(job_view(job), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


@router.post("", status_code=202, summary="Start a comparison (FRD between two datasets, or stats and a dataset)")
def create_comparison(body: ComparisonRequest, request: Request, owner: str = Depends(require_owner),
                      idempotency_key: str | None = Header(default=None, max_length=200)):
    db, *_ = services(request)
    check_reference(db, body.reference, owner)
    owned(db, "datasets", body.candidate, owner, "dataset")
    params = {"reference": body.reference, "candidate": body.candidate, "options": body.options.to_library(),
              "bootstrap": body.bootstrap, "report": body.report}
    return submit(request, owner, "compare", params, idempotency_key)


@router.get("/{comparison_id}/report", summary="The comparison's self-contained HTML report",
            response_class=HTMLResponse)
def get_report(comparison_id: str, request: Request, owner: str = Depends(require_owner)):
    db, _, runner, _ = services(request)
    job = owned(db, "jobs", comparison_id, owner, "comparison")
    if job["kind"] != "compare":
        raise ApiError(404, "not_found", f"no comparison {comparison_id!r}")
    if job["state"] != "succeeded":
        raise ApiError(409, "not_ready", f"the comparison is {job['state']}", job=job_view(job))
    path = runner.report_path(comparison_id)
    if not path.is_file():
        raise ApiError(404, "no_report", "this comparison has no report (it was not requested, or "
                                         "matplotlib is not installed on the server)")
    return HTMLResponse(path.read_text(encoding="utf-8"))


@router.get("/{comparison_id}", summary="The result of a finished comparison (as `frd compare --json`)")
def get_comparison(comparison_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    job = owned(db, "jobs", comparison_id, owner, "comparison")
    if job["kind"] != "compare":
        raise ApiError(404, "not_found", f"no comparison {comparison_id!r}")
    if job["state"] != "succeeded":
        raise ApiError(409, "not_ready", f"the comparison is {job['state']}", job=job_view(job))
    return {"id": comparison_id, **json.loads(job["result"])}


ood_router = APIRouter(prefix="/v1/ood", tags=["out-of-domain detection"])


@ood_router.post("", status_code=202, summary="Start an out-of-domain screening of a dataset against a reference")
def create_ood(body: OODRequest, request: Request, owner: str = Depends(require_owner),
               idempotency_key: str | None = Header(default=None, max_length=200)):
    db, *_ = services(request)
    owned(db, "datasets", body.reference, owner, "dataset")
    owned(db, "datasets", body.test, owner, "dataset")
    params = {"reference": body.reference, "test": body.test, "options": body.options.to_library(),
              "assumption": body.assumption, "use_val_set": body.use_val_set, "val_frac": body.val_frac,
              "seed": body.seed}
    return submit(request, owner, "ood", params, idempotency_key)


@ood_router.get("/{ood_id}", summary="Per-image scores, decisions and p-values, and the dataset-level nFRD")
def get_ood(ood_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    job = owned(db, "jobs", ood_id, owner, "OOD screening")
    if job["kind"] != "ood":
        raise ApiError(404, "not_found", f"no OOD screening {ood_id!r}")
    if job["state"] != "succeeded":
        raise ApiError(409, "not_ready", f"the screening is {job['state']}", job=job_view(job))
    return {"id": ood_id, **json.loads(job["result"])}
