"""POST /v1/frd: a synchronous comparison for small sets (large ones go through jobs)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

import frd
from frd.featureset import ExtractionError
from frd.inputs import InputError

from ..auth import require_owner
from ..deps import services
from ..errors import ApiError
from ..jobs import public_message, public_result, run_kwargs
from ..schemas import Options
from ..uploads import ParsedForm
from .datasets import receive_files, store_files

router = APIRouter(tags=["synchronous"])
GROUPS = ("reference", "candidate")


_files = {"type": "array", "items": {"type": "string", "format": "binary"}}
SYNC_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "properties": {"reference": _files, "candidate": _files, "reference_masks": _files,
                   "candidate_masks": _files,
                   "options": {"type": "string", "description": "FRD options as JSON, e.g. {\"version\": \"v0\"}"}},
    "required": ["reference", "candidate"],
}}}}}


@router.post("/v1/frd", summary="FRD of two small uploaded sets, answered directly", openapi_extra=SYNC_BODY)
async def frd_now(request: Request, owner: str = Depends(require_owner)):
    db, store, runner, settings = services(request)
    fields = {"reference", "candidate", "reference_masks", "candidate_masks"}
    try:
        form = await receive_files(request, fields, {"options"}, max_files=settings.sync_max_files)
    except ApiError as exc:
        if exc.status == 413:
            exc.message += (f" — POST /v1/frd is for small sets (at most {settings.sync_max_files} files); "
                            "upload larger sets with POST /v1/datasets and start a job with POST /v1/comparisons")
        raise
    try:
        options = Options.model_validate_json(form.fields.get("options") or "{}").to_library()
    except ValidationError as exc:
        form.discard()
        problem = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
        raise ApiError(422, "invalid_options", f"options must be a JSON object of FRD options: {problem['msg']}") from None
    except ApiError:
        form.discard()
        raise
    views = {}
    try:
        for group in GROUPS:
            parts = [p for p in form.files if p.field in (group, f"{group}_masks")]
            for p in parts:
                p.field = "masks" if p.field.endswith("_masks") else "files"
            report = await store_files(request, ParsedForm(files=parts))
            view_id = f".sync-{uuid.uuid4().hex}"
            store.dataset_view(view_id, [(a.role, a.name, a.sha256) for a in report.accepted])
            views[group] = (view_id, any(a.role == "mask" for a in report.accepted))
        paths = {g: (store.views / v / "images", store.views / v / "masks" if m else None)
                 for g, (v, m) in views.items()}

        def run():
            (ref, ref_masks), (cand, cand_masks) = paths["reference"], paths["candidate"]
            return frd.compare(
                ref, cand, reference_masks=ref_masks, candidate_masks=cand_masks,
                options=frd.FRDOptions(**options), **run_kwargs(settings),
            )

        try:
            result = await run_in_threadpool(run)
        except (InputError, ExtractionError, ValueError) as exc:
            raise ApiError(422, "cannot_compare", public_message(exc, settings.data_dir)) from None
        return public_result(result.to_dict())
    finally:
        for view_id, _ in views.values():
            store.drop_view(view_id)
