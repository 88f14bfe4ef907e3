"""POST /v1/frd: a synchronous comparison for small sets (large ones go through jobs)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

import frd
from frd.featureset import ExtractionError
from frd.inputs import InputError

from ..auth import require_owner
from ..deps import library_options, services
from ..errors import ApiError
from ..schemas import Options
from ..uploads import FILES, ParsedForm, openapi_multipart
from ..work import public_message, public_result
from .datasets import check_files, receive_files

router = APIRouter(tags=["synchronous"])
GROUPS = ("reference", "candidate")


SYNC_BODY = openapi_multipart(
    {
        "reference": FILES,
        "candidate": FILES,
        "reference_masks": FILES,
        "candidate_masks": FILES,
        "options": {"type": "string", "description": 'FRD options as JSON, e.g. {"version": "v0"}'},
    },
    required=["reference", "candidate"],
)


class SyncSlots:
    """Synchronous comparisons share one pool of ``slots`` worker processes (each
    compares one request's sets, extracting in that process); ``queue`` more requests
    may wait; beyond that a request is answered 429 at once, before its body is read.
    Nothing of a comparison runs in the service process, whose interpreter lock the
    event loop needs. Admission lives on the event loop (no lock needed)."""

    def __init__(self, slots: int, queue: int, nice: int):
        self.slots, self.limit, self.nice = max(1, slots), max(1, slots) + max(0, queue), nice
        self.admitted = 0
        self.running = asyncio.Semaphore(self.slots)
        self._pool = None
        self._making = threading.Lock()

    @property
    def pool(self):
        with self._making:
            return self._make_pool()

    def _make_pool(self):
        if self._pool is None:
            # loky, as the library's own workers: fresh interpreters that import the same frd.
            from loky import ProcessPoolExecutor

            from frd.executors import init_worker

            self._pool = ProcessPoolExecutor(self.slots, initializer=init_worker, initargs=(self.nice, os.getpid()))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, kill_workers=True)

    def admit(self) -> None:
        if self.admitted >= self.limit:
            raise ApiError(
                429,
                "busy",
                f"{self.admitted} synchronous comparisons are running or waiting; "
                "retry later, or use POST /v1/comparisons (jobs queue without limit)",
                headers={"Retry-After": "5"},
            )
        self.admitted += 1

    def leave(self) -> None:
        self.admitted -= 1


def sync_slots(request: Request) -> SyncSlots:
    state = request.app.state
    if getattr(state, "sync_slots", None) is None:
        state.sync_slots = SyncSlots(state.settings.sync_slots, state.settings.sync_queue, state.settings.worker_nice)
    return state.sync_slots


def _compare_in_child(paths: dict, options, cache_dir) -> dict:
    """In a worker of the shared pool: the comparison, extracting in this process."""
    (ref, ref_masks), (cand, cand_masks) = paths["reference"], paths["candidate"]
    return frd.compare(
        ref,
        cand,
        reference_masks=ref_masks,
        candidate_masks=cand_masks,
        options=options,
        workers=1,
        cache_dir=cache_dir,
        progress=False,
    ).to_dict()


@router.post(
    "/v1/frd",
    summary="FRD of two small uploaded sets, answered directly",
    openapi_extra=SYNC_BODY,
    responses={429: {"description": "all synchronous slots are busy (Retry-After)"}},
)
async def frd_now(request: Request, owner: str = Depends(require_owner)):
    """The uploaded files are never stored: they are checked, read from temp files and
    deleted when the request ends, whatever its outcome."""
    db, store, runner, settings = services(request)
    slots = sync_slots(request)
    slots.admit()
    try:
        async with slots.running:
            return await _compare_uploads(request, owner)
    finally:
        slots.leave()


async def _compare_uploads(request: Request, owner: str):
    db, store, runner, settings = services(request)
    fields = {"reference", "candidate", "reference_masks", "candidate_masks"}
    try:
        form = await receive_files(request, fields, {"options"}, max_files=settings.sync_max_files)
    except ApiError as exc:
        if exc.status == 413:
            exc.message += (
                f" — POST /v1/frd is for small sets (at most {settings.sync_max_files} files); "
                "upload larger sets with POST /v1/datasets and start a job with POST /v1/comparisons"
            )
        raise
    reports, views = [], []
    try:
        try:
            options = Options.model_validate_json(form.fields.get("options") or "{}")
        except ValidationError as exc:
            problem = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
            raise ApiError(
                422, "invalid_options", f"options must be a JSON object of FRD options: {problem['msg']}"
            ) from None
        library = library_options(options)
        paths = {}
        for group in GROUPS:
            parts = [p for p in form.files if p.field in (group, f"{group}_masks")]
            for p in parts:
                p.field = "masks" if p.field.endswith("_masks") else "files"
            report = await check_files(request, ParsedForm(files=parts))
            reports.append(report)
            view = await run_in_threadpool(
                store.dataset_view, f"sync-{uuid.uuid4().hex}", report.files(store), where=store.tmp
            )
            views.append(view)
            paths[group] = (view / "images", view / "masks" if any(a.role == "mask" for a in report.accepted) else None)

        slots = sync_slots(request)
        try:
            # Submitting may start the pool's processes (through the fork server), which
            # blocks: never on the event loop.
            future = await run_in_threadpool(
                lambda: slots.pool.submit(_compare_in_child, paths, library, settings.cache_dir(owner))
            )
            result = await asyncio.wrap_future(future)
        except (InputError, ExtractionError, ValueError) as exc:
            raise ApiError(422, "cannot_compare", public_message(exc, settings.data_dir)) from None
        return await run_in_threadpool(public_result, result, settings.data_dir)
    finally:
        for view in views:
            shutil.rmtree(view, ignore_errors=True)
        for report in reports:
            report.release()
        form.discard()
