"""The OpenAPI document as this server enforces it: its limits, its error body, its key.

FastAPI's generated document is patched once per app: bodies parsed by the handlers themselves
(``serving/fast.py``) become component schemas, the limits that are settings (``max_k``,
``max_history``, ``max_batch``) are written into them, every 4xx answer points at
:class:`~shortlist.serving.schemas.ErrorOut`, and the ``ApiKey`` scheme is declared only when
a key is configured (without one, on loopback, nothing asks for it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from shortlist.serving.schemas import ErrorOut, EventsIn, RecommendIn, ReloadIn

__all__ = ["install_openapi"]

_REF = "#/components/schemas/{model}"

#: (path, method) -> the model its handler parses from the raw body
_SELF_PARSED: dict[tuple[str, str], type[BaseModel]] = {
    ("/recommend", "post"): RecommendIn,
    ("/events", "post"): EventsIn,
    ("/admin/reload", "post"): ReloadIn,
}


def _register(components: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    """Put ``model`` and the models it nests into ``components``; return the reference to it."""
    schema = model.model_json_schema(ref_template=_REF)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _bound(prop: dict[str, Any], key: str, value: int) -> None:
    """Set ``key`` (maximum, maxItems) on the non-null branch of a property (``anyOf`` for optional ones)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            branch[key] = value


def _patch(schema: dict[str, Any], settings: Any) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for (path, method), model in _SELF_PARSED.items():
        op = schema["paths"].get(path, {}).get(method)
        if op is not None:
            op["requestBody"]["content"]["application/json"]["schema"] = _register(components, model)
    recommend = components[RecommendIn.__name__]["properties"]
    _bound(recommend["k"], "maximum", settings.max_k)
    _bound(recommend["history"], "maxItems", settings.max_history)
    _bound(recommend["exclude"], "maxItems", settings.max_history)
    _bound(components[EventsIn.__name__]["properties"]["events"], "maxItems", settings.max_batch)
    error_ref = _register(components, ErrorOut)
    for ops in schema["paths"].values():
        for op in ops.values():
            for status, response in op.get("responses", {}).items():
                if str(status).startswith("4"):
                    response["content"] = {"application/json": {"schema": dict(error_ref)}}
                    if status == "422":
                        response["description"] = "Invalid request: a field has the wrong type or is outside " \
                                                  "its limits (see detail)"
            if not settings.api_key:
                op.pop("security", None)
                op.get("responses", {}).pop("401", None)
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, replaced by ErrorOut
        components.pop(unused, None)
    if not settings.api_key:
        schema["components"].pop("securitySchemes", None)
    return schema


def install_openapi(app: FastAPI, settings: Any) -> None:
    """Make ``app.openapi()`` return the patched document (built on first use, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _patch(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
