"""API-key check for write and admin endpoints (``X-API-Key`` header, constant-time compare).

The check is a dependency of routes that parse their body themselves, so a wrong key is a 401
whatever the body holds (an invalid body never gets a 422 past a missing key).
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

__all__ = ["API_KEY_HEADER", "key_matches", "require_api_key"]

#: declared as the ``ApiKey`` security scheme in the OpenAPI document
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False,
                              description="the server's key (SHORTLIST_API_KEY) for /events and /admin")


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def require_api_key(request: Request, given: str | None = Security(API_KEY_HEADER)) -> None:
    """FastAPI dependency: 401 without a matching ``X-API-Key`` (open when no key is configured on loopback)."""
    expected = request.app.state.settings.api_key
    if not expected:
        return  # only possible on a loopback bind: Settings.check_security refuses it otherwise
    if not key_matches(given, expected):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header; send the server's key "
                                                    "(SHORTLIST_API_KEY) as X-API-Key",
                            headers={"WWW-Authenticate": "ApiKey"})
