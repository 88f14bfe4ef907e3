"""Uploading, reading and deleting image sets."""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from frd.archive import ArchiveError
from frd.inputs import InputError

from .. import lifecycle
from ..auth import require_owner
from ..deps import job_view, owned, services
from ..errors import ApiError
from ..ingest import KnownFileGone, add_known, create_dataset, ingest, known_files
from ..jobs import new_job
from ..lifecycle import DatasetInUse
from ..metrics import UPLOAD_BYTES
from ..store import TooLarge
from ..uploads import FILES, BadUpload, openapi_multipart, parse_multipart

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_NAME = 200


def dataset_name(raw: str | None) -> str | None:
    """The optional label of an upload: control characters become spaces; 422 if too long."""
    name = " ".join("".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in raw or "").split())
    if len(name) > MAX_NAME:
        raise ApiError(422, "invalid_name", f"the dataset name is longer than {MAX_NAME} characters")
    return name or None


UPLOAD_BODY = openapi_multipart(
    {
        "files": {
            **FILES,
            "description": "image files (PNG, JPEG, BMP, TIFF, NIfTI, NRRD, MetaImage, DICOM); "
            "names may hold folders, e.g. patient1/slice001.dcm",
        },
        "masks": {
            **FILES,
            "description": "masks, paired with images by name (case01.png ↔ case01[_mask].png)",
        },
        "archive": {
            "type": "string",
            "format": "binary",
            "description": "one zip archive instead of files (masks in a top-level masks/ folder)",
        },
        "existing": {
            "type": "string",
            "description": "files you uploaded before, by digest instead of bytes: a JSON list of "
            '{"name", "role": "image"|"mask", "sha256"} (see POST '
            "/v1/datasets/known-files)",
        },
        "name": {
            "type": "string",
            "maxLength": MAX_NAME,
            "description": "optional label shown in listings, e.g. the folder's name",
        },
    }
)


async def receive_files(
    request: Request,
    file_fields: set[str],
    text_fields: frozenset[str] | set[str] = frozenset(),
    max_files: int | None = None,
):
    """Stream a multipart upload to temp files, mapping limit and format problems to 4xx."""
    db, store, runner, settings = services(request)
    try:
        return await parse_multipart(
            request,
            store,
            file_fields=file_fields,
            text_fields=set(text_fields),
            text_limits={"existing": settings.max_files * 512},
            max_request_bytes=settings.max_request_bytes,
            max_file_bytes=settings.max_file_bytes,
            max_files=max_files or settings.max_files,
        )
    except TooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except BadUpload as exc:
        raise ApiError(400, "bad_upload", str(exc)) from None


async def check_files(request: Request, form, owner: str | None = None):
    """Validate the uploaded files (headers only); the accepted ones stay temp files
    (the caller stores or releases them). With ``owner``, the form's ``existing`` files —
    uploaded by that owner before, named by digest — are added without their bytes."""
    db, store, runner, settings = services(request)
    existing = _existing_entries(form.fields.get("existing"), settings.max_files) if owner else []
    try:
        report = await run_in_threadpool(ingest, form, store, settings)
        if owner is not None and existing:
            await run_in_threadpool(add_known, db, owner, existing, report)
    except ArchiveError as exc:
        raise ApiError(422, "bad_archive", str(exc)) from None
    except TooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    if not any(a.role == "image" for a in report.accepted):
        report.release()
        raise ApiError(422, "no_images", "no uploaded file was accepted as an image", rejected=report.rejected)
    return report


def _existing_entries(text: str | None, max_files: int) -> list[dict]:
    """The ``existing`` form field: a JSON list of {name, role, sha256}; 400 when malformed."""
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        raise ApiError(400, "bad_upload", "the existing field must be a JSON list") from None
    if not isinstance(entries, list) or len(entries) > max_files:
        raise ApiError(400, "bad_upload", f"the existing field must be a JSON list of at most {max_files} files")
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and set(entry) == {"name", "role", "sha256"}
            and isinstance(entry["name"], str)
            and entry["role"] in ("image", "mask")
            and isinstance(entry["sha256"], str)
            and SHA256.fullmatch(entry["sha256"])
        ):
            raise ApiError(
                400,
                "bad_upload",
                'each existing file is {"name": ..., "role": "image" or "mask", "sha256": 64 lower-case hex digits}',
            )
    return entries


class KnownFilesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: list[Annotated[str, StringConstraints(pattern=SHA256.pattern)]] = Field(max_length=10_000)


@router.post("/known-files", summary="Which of these files (SHA-256 of their bytes) you have uploaded before")
def known(body: KnownFilesRequest, request: Request, owner: str = Depends(require_owner)):
    """A client sends only the files the service does not have yet, and names the others in
    the upload's ``existing`` field. Only your own datasets count (other tenants' files are
    never revealed)."""
    db, *_ = services(request)
    return {"known": sorted(known_files(db.connect(), owner, body.sha256))}


@router.post(
    "",
    status_code=201,
    summary="Upload an image set (files, optional masks, or one zip archive)",
    openapi_extra=UPLOAD_BODY,
)
async def upload_dataset(request: Request, owner: str = Depends(require_owner)):
    db, store, runner, settings = services(request)
    form = await receive_files(request, {"files", "masks", "archive"}, {"existing", "name"})
    try:
        name = dataset_name(form.fields.get("name"))
    except ApiError:
        form.discard()
        raise
    report = await check_files(request, form, owner)
    try:
        dataset_id = await run_in_threadpool(create_dataset, db, store, owner, report)
    except InputError as exc:
        raise ApiError(422, "bad_masks", str(exc), rejected=report.rejected) from None
    except KnownFileGone as exc:
        raise ApiError(409, "file_gone", str(exc)) from None
    finally:
        form.discard()
    if name:
        await run_in_threadpool(db.execute, "UPDATE datasets SET name = ? WHERE id = ?", name, dataset_id)
    UPLOAD_BYTES.inc(report.uploaded_bytes)
    if settings.extract_on_upload:

        def queue_extraction():
            with db.transaction() as conn:
                job_id = new_job(conn, owner, "extract", {"dataset": dataset_id})
                conn.execute("UPDATE datasets SET extraction_job = ? WHERE id = ?", (job_id, dataset_id))

        await run_in_threadpool(queue_extraction)  # a write transaction may wait: not on the loop
        runner.wake()
    body = {
        "id": dataset_id,
        "name": name,
        "accepted": [
            {"name": a.name, "role": a.role, "size": a.size, "kind": a.kind, "reused": a.reused}
            for a in report.accepted
        ],
        "uploaded_bytes": report.uploaded_bytes,
        "rejected": report.rejected,
        "links": {"self": f"/v1/datasets/{dataset_id}"},
    }
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/datasets/{dataset_id}"})


@router.get("/{dataset_id}", summary="Files of a dataset and its feature-extraction progress")
def get_dataset(dataset_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    row = owned(db, "datasets", dataset_id, owner, "dataset")
    files = db.all(
        "SELECT role, name, size, kind FROM dataset_files WHERE dataset_id = ? ORDER BY role, name", dataset_id
    )
    extraction = None
    if row["extraction_job"]:
        job = db.one("SELECT * FROM jobs WHERE id = ?", row["extraction_job"])
        if job is not None:
            extraction = job_view(job)
            if job["result"]:
                extraction["result"] = json.loads(job["result"])
    return {
        "id": dataset_id,
        "name": row["name"],
        "created": row["created"],
        "files": [dict(f) for f in files],
        "n_images": sum(f["role"] == "image" for f in files),
        "n_masks": sum(f["role"] == "mask" for f in files),
        "extraction": extraction,
    }


@router.delete("/{dataset_id}", status_code=204, summary="Delete a dataset")
def delete_dataset(dataset_id: str, request: Request, owner: str = Depends(require_owner)):
    db, store, *_ = services(request)
    owned(db, "datasets", dataset_id, owner, "dataset")
    try:
        lifecycle.delete_dataset(db, store, dataset_id)
    except DatasetInUse as exc:
        raise ApiError(
            409, "dataset_in_use", f"the dataset is {exc}; cancel them or wait for them to end", jobs=exc.jobs
        ) from None
    return None
