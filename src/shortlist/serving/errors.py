"""One JSON error body for every 4xx (:class:`~shortlist.serving.schemas.ErrorOut`) and the handlers that write it.

``{"error": "<what, value, fix>", "status": 422, "detail": [{"loc": [...], "msg": ..., "type": ...}]}``:
``detail`` lists per-field problems of a validation error and is empty for the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shortlist.errors import ShortlistError, UnknownIdError
from shortlist.serving.schemas import ErrorOut

__all__ = ["ERROR_DESCRIPTIONS", "error_body", "error_responses", "install_error_handlers", "invalid"]

log = logging.getLogger("shortlist.serving")

#: what each error status means in this API (the OpenAPI page shows these)
ERROR_DESCRIPTIONS = {
    400: "Malformed request: a Content-Length that is no number, or a value the served pipeline cannot use",
    401: "Missing or wrong X-API-Key header",
    404: "Unknown item, model or model folder",
    409: "The served pipeline cannot answer this (e.g. no model defines item similarity)",
    413: "Request body larger than max_body_bytes",
    422: "Invalid request: a field has the wrong type or is outside its limits (see detail)",
}


def error_body(status: int, message: str, detail: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The error body as a dict (one line of ``message``)."""
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    return {"error": line, "status": status, "detail": list(detail)}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its description and the :class:`ErrorOut` body."""
    return {status: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)] or ["body"]
    return ".".join(parts)


def _invalid(errors: list[dict[str, Any]]) -> JSONResponse:
    summary = "; ".join(f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors[:10])
    detail = [{"loc": [p if isinstance(p, (str, int)) else str(p) for p in e.get("loc", ())],
               "msg": str(e.get("msg", "invalid")), "type": str(e.get("type", "value_error"))} for e in errors[:50]]
    return JSONResponse(status_code=422, content=error_body(422, summary, detail))


def install_error_handlers(app: FastAPI) -> None:
    """Route every error (validation, HTTPException, ShortlistError, a bug) to the one body shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # headers matter: WWW-Authenticate on 401, Allow on 405
        return JSONResponse(status_code=exc.status_code, content=error_body(exc.status_code, str(exc.detail)),
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ShortlistError)
    async def _shortlist(request: Request, exc: ShortlistError) -> JSONResponse:
        status = 404 if isinstance(exc, UnknownIdError) else 400
        return JSONResponse(status_code=status, content=error_body(status, str(exc)))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(status_code=500, content=error_body(500, "internal error; the server log has the "
                                                                      "traceback"))


def invalid(loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 for a limit the pydantic model cannot know (a setting), in the same shape as pydantic's own."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": kind}])
