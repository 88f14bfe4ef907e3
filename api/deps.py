"""Helpers shared by the routes: the app's services and owner-scoped look-ups."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse

from .errors import ApiError
from .jobs import new_job

if TYPE_CHECKING:
    from frd.options import FRDOptions


def services(request: Request):
    state = request.app.state
    return state.db, state.store, state.runner, state.settings


def owned(db, table: str, resource_id: str, owner: str, what: str):
    """The row of ``resource_id`` if ``owner`` owns it; 404 otherwise (never 403)."""
    row = db.one(f"SELECT * FROM {table} WHERE id = ? AND owner = ?", resource_id, owner)
    if row is None:
        raise ApiError(404, "not_found", f"no {what} {resource_id!r}")
    return row


def job_view(row) -> dict:
    links = {"self": f"/v1/jobs/{row['id']}"}
    if row["state"] == "succeeded":
        if row["kind"] == "compare":
            links["result"] = f"/v1/comparisons/{row['id']}"
            links["report"] = f"/v1/comparisons/{row['id']}/report"
        elif row["kind"] == "ood":
            links["result"] = f"/v1/ood/{row['id']}"
        elif row["kind"] == "stats":
            links["result"] = f"/v1/reference-stats/{json.loads(row['params'])['stats_id']}"
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": row["state"],
        "progress": {"done": row["done"], "total": row["total"]},
        "error": row["error"],
        "created": row["created"],
        "started": row["started"],
        "finished": row["finished"],
        "links": links,
    }


def finished_job(db, job_id: str, owner: str, kind: str, what: str):
    """The job row of a succeeded ``kind`` job; 404 if absent or of another kind, 409 if unfinished."""
    job = owned(db, "jobs", job_id, owner, what)
    if job["kind"] != kind:
        raise ApiError(404, "not_found", f"no {what} {job_id!r}")
    if job["state"] != "succeeded":
        raise ApiError(409, "not_ready", f"the {what} is {job['state']}", job=job_view(job))
    return job


def library_options(options) -> FRDOptions:
    """The library's options from a request's ``Options``: every value, range and bound
    is the library's own check (:class:`frd.errors.OptionError`), answered 422 here
    before any job is made."""
    from frd.errors import OptionError
    from frd.limits import check_gray_level_bounds
    from frd.options import FRDOptions

    try:
        library = FRDOptions(**options.to_library())
        check_gray_level_bounds(library)
        return library
    except OptionError as exc:
        raise ApiError(422, "invalid_options", exc.render(lambda name: f"options.{name}")) from None
    except (ValueError, TypeError) as exc:
        raise ApiError(422, "invalid_options", f"invalid options: {exc}") from None


def check_bins_for(conn, dataset_id: str, options: dict) -> None:
    """422 when the bin width would give the dataset's images more gray levels than the
    library accepts, as far as their headers tell (integer pixel types; normalised
    pipelines are bounded by the options alone, float images when they are read)."""
    from frd.limits import MAX_GRAY_LEVELS, gray_levels_for_span
    from frd.options import FRDOptions

    row = conn.execute(
        "SELECT MAX(value_span) AS span FROM dataset_files WHERE dataset_id = ? AND role = 'image'", (dataset_id,)
    ).fetchone()
    if row is None or row["span"] is None:
        return
    levels = gray_levels_for_span(FRDOptions(**options), row["span"])
    if levels is not None and levels > MAX_GRAY_LEVELS:
        raise ApiError(
            422,
            "invalid_options",
            f"options.bin_width gives the images of dataset {dataset_id} (pixel values spanning up to "
            f"{row['span']:g}) up to {levels:,.0f} gray levels, more than the limit of {MAX_GRAY_LEVELS}; "
            "choose a larger bin width",
        )


def submit(
    request: Request, owner: str, kind: str, params: dict, idempotency_key: str | None, uses: tuple = ()
) -> JSONResponse:
    """Queue a job (or, for a repeated Idempotency-Key, return the job it created).

    ``uses`` are the (table, id, what) the job reads: checked inside the transaction
    that creates the job, so a concurrent delete either comes first (404 here) or sees
    the job and refuses (409).
    """
    db, _, runner, _ = services(request)
    request_hash = hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()
    with db.transaction() as conn:
        for table, resource_id, what in uses:
            if (
                conn.execute(f"SELECT 1 FROM {table} WHERE id = ? AND owner = ?", (resource_id, owner)).fetchone()
                is None
            ):
                raise ApiError(404, "not_found", f"no {what} {resource_id!r}")
            if table == "datasets" and "options" in params:
                check_bins_for(conn, resource_id, params["options"])
        if idempotency_key:
            row = conn.execute(
                "SELECT request_hash, job_id FROM idempotency WHERE owner = ? AND key = ?", (owner, idempotency_key)
            ).fetchone()
            if row is not None:
                if row["request_hash"] != request_hash:
                    raise ApiError(
                        422, "idempotency_key_reused", "this Idempotency-Key was used for a different request"
                    )
                job_id = row["job_id"]
            else:
                job_id = new_job(conn, owner, kind, params)
                conn.execute(
                    "INSERT INTO idempotency (owner, key, request_hash, job_id) VALUES (?, ?, ?, ?)",
                    (owner, idempotency_key, request_hash, job_id),
                )
        else:
            job_id = new_job(conn, owner, kind, params)
    runner.wake()
    job = db.one("SELECT * FROM jobs WHERE id = ?", job_id)
    return JSONResponse(job_view(job), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


def dataset_use(dataset_id: str) -> tuple:
    if dataset_id.startswith("st_"):
        return ("reference_stats", dataset_id, "reference statistics")
    return ("datasets", dataset_id, "dataset")
