"""What a tenant has: datasets, reference statistics, comparisons and OOD screenings,
newest first, one page at a time.

Pages are cut by a keyset cursor (the last row's creation time and id), not an offset:
a row added or deleted while a client pages never shifts the next page, and a page costs
one indexed range read however deep it is. Every query is bound to the caller's owner id,
so a listing never shows another tenant's rows.
"""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import APIRouter, Depends, Query, Request

from ..auth import require_owner
from ..deps import job_view, services
from ..errors import ApiError

router = APIRouter()
LIMIT = Query(default=50, ge=1, le=200, description="items per page")
CURSOR = Query(default=None, max_length=200, description="`next_cursor` of the previous page")
# Kinds of image that are always 2D; other formats (NIfTI, NRRD, DICOM, ...) may hold either.
PLANAR_KINDS = {"png", "jpeg", "bmp"}


def encode_cursor(created: float, row_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(created, (int, float)) and isinstance(row_id, str):
            return float(created), row_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise ApiError(422, "invalid_cursor", "cursor is not a next_cursor this service gave")


def after(where: str, args: tuple, cursor: str | None) -> tuple[str, tuple]:
    """``where`` narrowed to the rows after ``cursor`` in (created, id) descending order."""
    if cursor is None:
        return where, args
    created, row_id = decode_cursor(cursor)
    # "created <= ?" first: the index seeks to the cursor instead of walking the pages before it.
    return f"{where} AND created <= ? AND (created < ? OR id < ?)", (*args, created, created, row_id)


def page(db, select: str, where: str, args: tuple, limit: int, cursor: str | None) -> tuple:
    """Rows of ``select ... WHERE where`` after ``cursor``, newest first, and the next cursor."""
    where, args = after(where, args, cursor)
    rows = db.all(f"{select} WHERE {where} ORDER BY created DESC, id DESC LIMIT ?", *args, limit + 1)
    return next_page(rows, limit)


def next_page(rows: list, limit: int) -> tuple:
    """The first ``limit`` of ``limit + 1`` rows, and the cursor after them if there are more."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]["created"], rows[-1]["id"]) if more else None)


def names_of(db, owner: str, ids) -> dict[str, str | None]:
    """Labels of the caller's datasets and statistics (a statistics entry is named after its dataset)."""
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    out = {
        r["id"]: r["name"]
        for r in db.all(f"SELECT id, name FROM datasets WHERE owner = ? AND id IN ({marks})", owner, *ids)
    }
    out.update(
        {
            r["id"]: r["name"]
            for r in db.all(
                f"SELECT s.id, d.name FROM reference_stats s LEFT JOIN datasets d ON d.id = s.dataset_id "
                f"WHERE s.owner = ? AND s.id IN ({marks})",
                owner,
                *ids,
            )
        }
    )
    return out


def ref(resource_id: str | None, names: dict) -> dict | None:
    """A referenced dataset or statistics entry: its id, its label, and whether it still exists."""
    if not resource_id:
        return None
    return {"id": resource_id, "name": names.get(resource_id), "exists": resource_id in names}


# ----- datasets ---------------------------------------------------------------------------
# The page of datasets is cut first (by the owner's index), then only its files are counted.
DATASET_PAGE = """
SELECT d.id, d.name, d.created,
       COALESCE(SUM(f.role = 'image'), 0) AS n_images, COALESCE(SUM(f.role = 'mask'), 0) AS n_masks,
       COALESCE(SUM(f.size), 0) AS bytes,
       GROUP_CONCAT(DISTINCT f.kind) AS kinds,
       j.id AS job_id, j.kind AS job_kind, j.state AS job_state, j.done AS job_done, j.total AS job_total,
       j.error AS job_error, j.created AS job_created, j.started AS job_started, j.finished AS job_finished,
       json_extract(j.result, '$.ndim') AS ndim, json_extract(j.result, '$.images') AS n_usable,
       json_extract(j.result, '$.skipped') AS skipped
FROM (SELECT id, name, created, extraction_job FROM datasets WHERE {where}
      ORDER BY created DESC, id DESC LIMIT ?) d
LEFT JOIN dataset_files f ON f.dataset_id = d.id
LEFT JOIN jobs j ON j.id = d.extraction_job
GROUP BY d.id
ORDER BY d.created DESC, d.id DESC
"""


def dataset_item(row) -> dict:
    kinds = sorted((row["kinds"] or "").split(",")) if row["kinds"] else []
    ndim = row["ndim"] or (2 if kinds and set(kinds) <= PLANAR_KINDS else None)
    extraction = None
    if row["job_id"]:
        view = job_view(
            {
                "id": row["job_id"],
                "kind": row["job_kind"],
                "state": row["job_state"],
                "done": row["job_done"],
                "total": row["job_total"],
                "error": row["job_error"],
                "created": row["job_created"],
                "started": row["job_started"],
                "finished": row["job_finished"],
                "params": "{}",
            }
        )
        extraction = {k: view[k] for k in ("id", "state", "progress", "error", "started", "finished")}
        if row["n_usable"] is not None:
            extraction["images"] = row["n_usable"]
            extraction["skipped"] = json.loads(row["skipped"] or "[]")
    return {
        "id": row["id"],
        "name": row["name"],
        "created": row["created"],
        "n_images": row["n_images"],
        "n_masks": row["n_masks"],
        "bytes": row["bytes"],
        "kinds": kinds,
        "dimensionality": f"{ndim}D" if ndim else None,
        "extraction": extraction,
        "links": {"self": f"/v1/datasets/{row['id']}"},
    }


@router.get("/v1/datasets", tags=["datasets"], summary="Your datasets, newest first (paged)")
def list_datasets(
    request: Request, owner: str = Depends(require_owner), limit: int = LIMIT, cursor: str | None = CURSOR
):
    db, *_ = services(request)
    where, args = after("owner = ?", (owner,), cursor)
    rows, next_cursor = next_page(db.all(DATASET_PAGE.format(where=where), *args, limit + 1), limit)
    return {"items": [dataset_item(r) for r in rows], "next_cursor": next_cursor}


# ----- reference statistics ---------------------------------------------------------------
@router.get(
    "/v1/reference-stats",
    tags=["reference statistics"],
    summary="Your stored reference statistics, newest first (paged)",
)
def list_reference_stats(
    request: Request, owner: str = Depends(require_owner), limit: int = LIMIT, cursor: str | None = CURSOR
):
    db, *_ = services(request)
    rows, next_cursor = page(
        db, "SELECT id, dataset_id, created, summary FROM reference_stats", "owner = ?", (owner,), limit, cursor
    )
    names = names_of(db, owner, [r["dataset_id"] for r in rows])
    items = []
    for r in rows:
        summary = json.loads(r["summary"])
        items.append(
            {
                "id": r["id"],
                "name": names.get(r["dataset_id"]),
                "created": r["created"],
                "dataset": ref(r["dataset_id"], names),
                "n": summary.get("n"),
                "n_features": summary.get("n_features"),
                "version": (summary.get("options") or {}).get("version"),
                "links": {"self": f"/v1/reference-stats/{r['id']}"},
            }
        )
    return {"items": items, "next_cursor": next_cursor}


# ----- comparisons and OOD screenings (jobs) ----------------------------------------------
JOB_SELECT = """
SELECT id, kind, state, created, started, finished, done, total, error, params,
       json_extract(result, '$.frd') AS frd, json_extract(result, '$.identical') AS identical,
       json_extract(result, '$.frd_version') AS frd_version, json_extract(result, '$.scale') AS scale,
       json_extract(result, '$.n_reference') AS n_reference, json_extract(result, '$.n_candidate') AS n_candidate,
       json_extract(result, '$.ci') AS ci, json_extract(result, '$.nfrd') AS nfrd,
       json_extract(result, '$.n_test') AS n_test, json_extract(result, '$.n_flagged') AS n_flagged
FROM jobs
"""


def comparison_item(row, names: dict) -> dict:
    params = json.loads(row["params"])
    item = {
        **job_view(row),
        "reference": ref(params.get("reference"), names),
        "candidate": ref(params.get("candidate"), names),
        "version": (params.get("options") or {}).get("version", "v1"),
        "bootstrap": params.get("bootstrap", 0),
        "report": params.get("report", False),
    }
    if row["state"] == "succeeded":
        item["result"] = {
            "frd": row["frd"],
            "identical": bool(row["identical"]),
            "frd_version": row["frd_version"],
            "scale": row["scale"],
            "n_reference": row["n_reference"],
            "n_candidate": row["n_candidate"],
            "ci": json.loads(row["ci"]) if row["ci"] else None,
        }
    return item


def ood_item(row, names: dict) -> dict:
    params = json.loads(row["params"])
    item = {
        **job_view(row),
        "reference": ref(params.get("reference"), names),
        "test": ref(params.get("test"), names),
        "assumption": params.get("assumption"),
    }
    if row["state"] == "succeeded":
        item["result"] = {
            "nfrd": row["nfrd"],
            "frd": row["frd"],
            "n_test": row["n_test"],
            "n_flagged": row["n_flagged"],
        }
    return item


def job_listing(request: Request, owner: str, kind: str, make, limit: int, cursor: str | None) -> dict:
    db, *_ = services(request)
    rows, next_cursor = page(db, JOB_SELECT, "owner = ? AND kind = ?", (owner, kind), limit, cursor)
    params = [json.loads(r["params"]) for r in rows]
    names = names_of(db, owner, [p.get(k) for p in params for k in ("reference", "candidate", "test")])
    return {"items": [make(r, names) for r in rows], "next_cursor": next_cursor}


def job_summary(request: Request, owner: str, kind: str, make, job_id: str, what: str) -> dict:
    db, *_ = services(request)
    row = db.one(JOB_SELECT + " WHERE id = ? AND owner = ? AND kind = ?", job_id, owner, kind)
    if row is None:  # another tenant's job is as absent as one that never was
        raise ApiError(404, "not_found", f"no {what} {job_id!r}")
    params = json.loads(row["params"])
    return make(row, names_of(db, owner, [params.get(k) for k in ("reference", "candidate", "test")]))


@router.get("/v1/comparisons", tags=["comparisons"], summary="Your comparisons, newest first (paged)")
def list_comparisons(
    request: Request, owner: str = Depends(require_owner), limit: int = LIMIT, cursor: str | None = CURSOR
):
    return job_listing(request, owner, "compare", comparison_item, limit, cursor)


@router.get(
    "/v1/comparisons/{comparison_id}/summary",
    tags=["comparisons"],
    summary="What a comparison compares, its state and progress, and its value once done",
)
def comparison_summary(comparison_id: str, request: Request, owner: str = Depends(require_owner)):
    return job_summary(request, owner, "compare", comparison_item, comparison_id, "comparison")


@router.get("/v1/ood", tags=["out-of-domain detection"], summary="Your OOD screenings, newest first (paged)")
def list_ood(request: Request, owner: str = Depends(require_owner), limit: int = LIMIT, cursor: str | None = CURSOR):
    return job_listing(request, owner, "ood", ood_item, limit, cursor)


@router.get(
    "/v1/ood/{ood_id}/summary",
    tags=["out-of-domain detection"],
    summary="What an OOD screening screens, its state and progress, and its nFRD once done",
)
def ood_summary(ood_id: str, request: Request, owner: str = Depends(require_owner)):
    return job_summary(request, owner, "ood", ood_item, ood_id, "OOD screening")
