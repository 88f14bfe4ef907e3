"""Comparisons as jobs: POST answers 202 with the job's Location; GET gives the result."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse

from ..auth import require_owner
from ..deps import dataset_use, finished_job, library_options, services, submit
from ..errors import ApiError
from ..schemas import ComparisonRequest, OODRequest

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])


@router.post("", status_code=202, summary="Start a comparison (FRD between two datasets, or stats and a dataset)")
def create_comparison(
    body: ComparisonRequest,
    request: Request,
    owner: str = Depends(require_owner),
    idempotency_key: str | None = Header(default=None, max_length=200),
):
    library_options(body.options)
    params = {
        "reference": body.reference,
        "candidate": body.candidate,
        "options": body.options.to_library(),
        "bootstrap": body.bootstrap,
        "report": body.report,
    }
    return submit(
        request,
        owner,
        "compare",
        params,
        idempotency_key,
        uses=(dataset_use(body.reference), ("datasets", body.candidate, "dataset")),
    )


@router.get(
    "/{comparison_id}/report", summary="The comparison's self-contained HTML report", response_class=HTMLResponse
)
def get_report(comparison_id: str, request: Request, owner: str = Depends(require_owner)):
    db, _, runner, _ = services(request)
    finished_job(db, comparison_id, owner, "compare", "comparison")
    path = runner.report_path(comparison_id)
    if not path.is_file():
        raise ApiError(
            404,
            "no_report",
            "this comparison has no report (it was not requested, or matplotlib is not installed on the server)",
        )
    return HTMLResponse(path.read_text(encoding="utf-8"))


@router.get("/{comparison_id}", summary="The result of a finished comparison (as `frd compare --json`)")
def get_comparison(comparison_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    job = finished_job(db, comparison_id, owner, "compare", "comparison")
    return {"id": comparison_id, **json.loads(job["result"])}


ood_router = APIRouter(prefix="/v1/ood", tags=["out-of-domain detection"])


@ood_router.post("", status_code=202, summary="Start an out-of-domain screening of a dataset against a reference")
def create_ood(
    body: OODRequest,
    request: Request,
    owner: str = Depends(require_owner),
    idempotency_key: str | None = Header(default=None, max_length=200),
):
    library_options(body.options)
    params = {
        "reference": body.reference,
        "test": body.test,
        "options": body.options.to_library(),
        "assumption": body.assumption,
        "use_val_set": body.use_val_set,
        "val_frac": body.val_frac,
        "seed": body.seed,
    }
    return submit(
        request,
        owner,
        "ood",
        params,
        idempotency_key,
        uses=(("datasets", body.reference, "dataset"), ("datasets", body.test, "dataset")),
    )


@ood_router.get("/{ood_id}", summary="Per-image scores, decisions and p-values, and the dataset-level nFRD")
def get_ood(ood_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    job = finished_job(db, ood_id, owner, "ood", "OOD screening")
    return {"id": ood_id, **json.loads(job["result"])}
