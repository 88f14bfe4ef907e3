"""Helpers shared by the routes: the app's services and owner-scoped look-ups."""

from __future__ import annotations

import json

from fastapi import Request

from .errors import ApiError


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
