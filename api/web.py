"""The web page: ``GET /`` and ``/static/...``, files shipped inside the package.

The page is plain HTML, CSS and ES modules (no build step, nothing loaded from another
host, so it works on an air-gapped network); it talks to the same JSON API as any client,
with the same API keys. What protects it is set here, on every response of the app:

* the page's Content-Security-Policy allows scripts, styles and connections from this
  origin only — no inline script or style, no framing, no forms posting elsewhere;
* the HTML report (user data in a document) may use its inline styles and embedded
  images but runs no script at all (``sandbox``);
* API responses are never rendered (``default-src 'none'``) nor cached (``no-store``);
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; sandbox"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = "frame-ancestors 'none'"  # the OpenAPI pages run FastAPI's own inline scripts
REPORT_PATH = re.compile(r"^/v1/comparisons/[^/]+/report$")


def policy_for(path: str) -> tuple[str, str | None]:
    """(Content-Security-Policy, Cache-Control) of a response to ``path``."""
    if path == "/" or path.startswith("/static/"):
        return PAGE_CSP, "no-cache"  # revalidated (ETag): an upgraded service serves its new page at once
    if REPORT_PATH.match(path):
        return REPORT_CSP, "no-store"
    if path.startswith(("/docs", "/redoc")):
        return DOCS_CSP, None
    return API_CSP, "no-store" if path.startswith("/v1/") else None


class SecurityHeaders:
    """ASGI middleware adding the headers above (a route's own headers win)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp, cache = policy_for(scope.get("path", ""))
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if cache:
            extra.append((b"cache-control", cache.encode()))

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Serve the page and add the security headers to every response."""

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
