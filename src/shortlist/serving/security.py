"""API-key check for write and admin endpoints (``X-API-Key`` header, constant-time compare)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

__all__ = ["key_matches", "require_api_key"]


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 without a matching ``X-API-Key`` (open when no key is configured on loopback)."""
    expected = request.app.state.settings.api_key
    if not expected:
        return  # only possible on a loopback bind: Settings.check_security refuses it otherwise
    if not key_matches(request.headers.get("x-api-key"), expected):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header",
                            headers={"WWW-Authenticate": "ApiKey"})
