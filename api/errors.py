"""One JSON error shape for every failure: ``{"error": {"status", "code", "message"}}``.

No stack trace and no server path ever reaches a client; unexpected errors are logged
and answered with a generic 500.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import is_locked
from .store import StorageFull

log = logging.getLogger("frd.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers, extra


def error_response(status: int, code: str, message: str, headers=None, **extra) -> JSONResponse:
    body = {"error": {"status": status, "code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": e.get("msg", "")} for e in exc.errors()
        ]
        first = f": {problems[0]['field']}: {problems[0]['message']}" if problems else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return error_response(
            422, "invalid_request", f"the request does not match the schema{first}{more}", problems=problems
        )

    @app.exception_handler(sqlite3.OperationalError)
    async def _database(request: Request, exc: sqlite3.OperationalError):
        if is_locked(exc):  # another writer (a backup, another process) holds the database
            return error_response(503, "busy", "the database is busy; retry shortly", {"Retry-After": "2"})
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "unavailable", "the database is unavailable; retry later", {"Retry-After": "10"})

    @app.exception_handler(StorageFull)
    async def _storage_full(request: Request, exc: StorageFull):
        log.error("the data dir is full (%s %s)", request.method, request.url.path)
        return error_response(
            507,
            "storage_full",
            "the server has no space left to store this request; nothing of it was kept",
            {"Retry-After": "60"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; the server log has the details")


class BodyLimit:
    """ASGI middleware: every request body that is not a multipart upload (those have
    their own limits, counted while streaming) is refused with 413 beyond ``max_bytes`` —
    by its Content-Length before anything is read, and by counting otherwise (chunked
    bodies, a lying Content-Length). Nothing of an oversized body is parsed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            return await self.app(scope, receive, send)
        length = headers.get(b"content-length")
        too_large = error_response(413, "too_large", f"the request body exceeds the limit of {self.max_bytes} bytes")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await too_large(scope, receive, send)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await too_large(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from the body stream: an HTTPException, so that FastAPI's body reading
    passes it on (as a 413) instead of calling it a parse error."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"the request body exceeds the limit of {max_bytes} bytes")
