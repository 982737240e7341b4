"""``POST /admin/reload`` (hot swap) and ``GET /admin/users/{id}`` (online state); API key required."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request

from shortlist.errors import ShortlistError
from shortlist.serving.errors import error_responses
from shortlist.serving.fast import body_schema, parse_body
from shortlist.serving.schemas import ReloadIn, ReloadOut
from shortlist.serving.security import require_api_key

__all__ = ["reload_model", "router"]

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_api_key)],
                   responses=error_responses(401))
log = logging.getLogger("shortlist.serving")


def reload_model(app: object, folder: str | None = None) -> ReloadOut:
    """Load ``folder`` (default: the served one) and swap; in-flight requests finish on the old version."""
    st = app.state  # type: ignore[attr-defined]
    previous = st.holder.current.version
    t0 = time.perf_counter()
    try:
        mv, changed = st.holder.reload(folder)
    except (ShortlistError, OSError) as exc:
        st.metrics.reloads.labels(outcome="failed").inc()
        raise HTTPException(status_code=400, detail=f"model_dir={folder!r} cannot be served: {exc}") from None
    st.metrics.reloads.labels(outcome="swapped" if changed else "unchanged").inc()
    st.metrics.set_version(mv.version)
    if changed:
        log.info("swapped model %s -> %s", previous, mv.version)
    return ReloadOut(model_version=mv.version, previous_version=previous, changed=changed,
                     seconds=time.perf_counter() - t0)


_RELOAD_BODY = body_schema(ReloadIn)
_RELOAD_BODY["requestBody"]["required"] = False


@router.post("/reload", response_model=ReloadOut, openapi_extra=_RELOAD_BODY,
             responses=error_responses(400, 404, 413, 422), summary="Swap to a new model version atomically")
async def reload(request: Request) -> ReloadOut:
    """Load the pipeline in ``model_dir`` (default: the served folder again) and swap to it.

    404 when ``model_dir`` holds no ``pipeline.json``; 400 when it does but cannot be loaded
    (the old version keeps serving).
    """
    raw = await request.body()
    body = await parse_body(request, ReloadIn) if raw.strip() else None  # no body: reload the served folder
    folder = body.model_dir if body is not None else None
    if folder is not None and not (Path(folder) / "pipeline.json").is_file():
        raise HTTPException(status_code=404, detail=f"model_dir={folder!r} holds no pipeline.json; "
                                                    "give a folder written by `shortlist train`/`retrain`")
    return await asyncio.to_thread(reload_model, request.app, folder)


@router.get("/users/{user_id}", summary="A user's online state")
def user_state(user_id: str, request: Request) -> dict:
    """Recent history and whether folded-in vectors exist for the served version."""
    st = request.app.state
    mv = st.holder.current
    vectors = {name: st.state.get_vector(f"{mv.version}/{name}", user_id) is not None
               for name in st.updater.factor_models(mv.pipeline)}
    return {"user_id": user_id, "history": [{"item_id": i, "weight": w} for i, w in st.state.history(user_id)],
            "vectors": vectors, "model_version": mv.version}
