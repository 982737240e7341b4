"""Hot-path helpers: JSON bodies parsed and responses written by pydantic-core (Rust), no re-validation.

FastAPI's default path for a body model is ``json.loads`` -> dependency solving -> model
validation from Python objects, and for a returned dict ``json.dumps`` in pure Python.
``/recommend`` instead validates the raw bytes in one ``model_validate_json`` call and writes
its (already well-formed) response with ``pydantic_core.to_json``: the same checks and the
same 422 bodies, several times less CPU per request. pydantic-core is a dependency of
pydantic, so this needs no extra package (orjson would be about as fast).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import pydantic_core
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

__all__ = ["JSON_MEDIA_TYPE", "body_schema", "dump_json", "json_response", "parse_body"]

JSON_MEDIA_TYPE = "application/json"

M = TypeVar("M", bound=BaseModel)


def _fallback(value: Any) -> Any:
    """numpy scalars and arrays (ids, scores, traces) as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


try:  # pydantic-core >= 2.16 takes the mode; older ones always wrote null
    pydantic_core.to_json(1.0, inf_nan_mode="null")
    _OPTIONS: dict[str, Any] = {"inf_nan_mode": "null"}
except TypeError:  # pragma: no cover - depends on the installed pydantic-core
    _OPTIONS = {}


def dump_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON of ``obj`` (NaN and infinities become null; numpy values are converted)."""
    return pydantic_core.to_json(obj, fallback=_fallback, **_OPTIONS)


def json_response(obj: Any, status_code: int = 200) -> Response:
    """A JSON response written without FastAPI's response-model validation (the caller owns the shape)."""
    return Response(dump_json(obj), status_code=status_code, media_type=JSON_MEDIA_TYPE)


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate the raw request body as ``model``; errors raise FastAPI's 422 (locations under ``body``)."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False):
            e = dict(e)
            e["loc"] = ("body", *e.get("loc", ()))
            errors.append(e)
        raise RequestValidationError(errors) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON request body of a route that parses it itself."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": schema}}}}
