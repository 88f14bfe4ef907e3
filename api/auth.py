"""API keys: ``Authorization: Bearer <key>`` against ``FRD_API_KEYS``.

Each key is its own tenant: resources are stored with the key's owner id (a hash, never
the key) and another key gets 404 for them. Without configured keys every request is
the anonymous owner — and the service refuses clients from outside the loopback
interface unless that was explicitly allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import Request

from .errors import ApiError

ANONYMOUS = "anonymous"


def owner_of(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def match_key(token: str, keys) -> str | None:
    """The configured key equal to ``token``, compared in constant time over all keys:
    both sides are hashed first (equal lengths), and every key is compared whatever
    matched, so the time does not tell which key, or how much of one, was right."""
    presented = _digest(token)
    found = None
    for key in keys:
        if hmac.compare_digest(presented, _digest(key)):
            found = key
    return found


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_owner(request: Request) -> str:
    # async: no I/O here, and a sync dependency would cost every request a thread hand-off.
    settings = request.app.state.settings
    if not settings.api_keys:
        if not settings.allow_public_without_keys and not is_loopback(request.client.host if request.client else None):
            raise ApiError(403, "forbidden", "this service has no API keys configured and only serves loopback clients")
        return ANONYMOUS
    token = bearer(request)
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = match_key(token, settings.api_keys)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return owner_of(key)


async def require_metrics_access(request: Request) -> None:
    """/metrics: with FRD_METRICS_KEY, that key (not a tenant's); without it, loopback
    clients only — whatever FRD_ALLOW_PUBLIC_WITHOUT_KEYS says."""
    settings = request.app.state.settings
    if settings.metrics_key:
        token = bearer(request)
        if token is None or match_key(token, (settings.metrics_key,)) is None:
            raise ApiError(
                401,
                "unauthorized",
                "the metrics key is required: Authorization: Bearer <FRD_METRICS_KEY>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    if not is_loopback(request.client.host if request.client else None):
        raise ApiError(403, "forbidden", "metrics are served to loopback clients only unless FRD_METRICS_KEY is set")
