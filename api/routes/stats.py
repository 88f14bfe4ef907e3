"""Reference statistics kept by the service, to compare many candidates against one set."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Depends, Header, Request

from frd.errors import OptionError
from frd.stats import check_stats_options

from .. import lifecycle
from ..auth import require_owner
from ..deps import library_options, owned, services, submit
from ..errors import ApiError
from ..schemas import StatsRequest

router = APIRouter(prefix="/v1/reference-stats", tags=["reference statistics"])


@router.post("", status_code=202, summary="Compute reference statistics of a dataset (a job)")
def create_stats(
    body: StatsRequest,
    request: Request,
    owner: str = Depends(require_owner),
    idempotency_key: str | None = Header(default=None, max_length=200),
):
    options = body.options.to_library()
    try:  # the library's rule, on the resolved options (v0 defaults to joint normalisation)
        check_stats_options(library_options(body.options))
    except OptionError as exc:
        raise ApiError(422, "invalid_options", exc.render(lambda name: f"options.{name}")) from None
    params = {"dataset": body.dataset, "options": options, "stats_id": "st_" + uuid.uuid4().hex[:20]}
    if idempotency_key:  # the stats id is random: hash the request without it
        params["stats_id"] = "st_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{owner}/{idempotency_key}").hex[:20]
    return submit(request, owner, "stats", params, idempotency_key, uses=(("datasets", body.dataset, "dataset"),))


@router.get("/{stats_id}", summary="Summary of stored reference statistics")
def get_stats(stats_id: str, request: Request, owner: str = Depends(require_owner)):
    db, *_ = services(request)
    row = owned(db, "reference_stats", stats_id, owner, "reference statistics")
    return json.loads(row["summary"])


@router.delete("/{stats_id}", status_code=204, summary="Delete stored reference statistics")
def delete_stats(stats_id: str, request: Request, owner: str = Depends(require_owner)):
    db, store, *_ = services(request)
    owned(db, "reference_stats", stats_id, owner, "reference statistics")
    lifecycle.delete_stats(db, store, stats_id)
