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


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def require_owner(request: Request) -> str:
    # async: no I/O here, and a sync dependency would cost every request a thread hand-off.
    settings = request.app.state.settings
    if not settings.api_keys:
        if not settings.allow_public_without_keys and not _is_loopback(request.client.host if request.client else None):
            raise ApiError(403, "forbidden", "this service has no API keys configured and only serves loopback clients")
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>",
                       headers={"WWW-Authenticate": "Bearer"})
    for key in settings.api_keys:
        if hmac.compare_digest(key.encode(), token.strip().encode()):
            return owner_of(key)
    raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
