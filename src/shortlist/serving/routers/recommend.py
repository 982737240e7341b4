"""``POST /recommend``: a known user, or an anonymous one described by recent history and context."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shortlist.errors import ShortlistError
from shortlist.online.event_log import LoggedEvent
from shortlist.online.updater import ModelVersion, usable_ids
from shortlist.serving.errors import error_responses, invalid
from shortlist.serving.fast import body_schema, json_response, parse_body
from shortlist.serving.schemas import RecommendIn, RecommendOut

__all__ = ["router"]

router = APIRouter(tags=["recommend"])
log = logging.getLogger("shortlist.serving")


def _log_impressions(app_state: Any, user_id: str, request_id: str, items: list[dict]) -> None:
    """Store one impression per explored slot (event id = request id + position: idempotent)."""
    now = time.time()
    events = [LoggedEvent(event_id=f"{request_id}:{pos}", user_id=user_id, item_id=str(it["item_id"]),
                          type="impression", timestamp=now, propensity=it["propensity"], position=pos,
                          request_id=request_id) for pos, it in enumerate(items)]
    stored, _ = app_state.event_log.append(events)
    app_state.updater.apply(stored)
    for _ in stored:
        app_state.metrics.events.labels(type="impression").inc()


def _checked_k(body: RecommendIn, s: Any, default_k: int) -> int:
    """The list length asked for (the pipeline's ``k`` by default), within the server's max_k and max_history."""
    k = body.k if body.k is not None else default_k
    if k > s.max_k:
        raise invalid(("body", "k"), f"k={k} is larger than max_k={s.max_k}; ask for fewer items", "less_than_equal")
    for name, ids in (("history", body.history), ("exclude", body.exclude)):
        if len(ids) > s.max_history:
            raise invalid(("body", name), f"{len(ids)} item ids; send at most max_history={s.max_history}",
                          "too_long")
    return k


# The body is validated from raw bytes and the response written directly (serving/fast.py): the
# hot path skips FastAPI's body dependency and response-model re-validation; the OpenAPI page
# still documents both models.
@router.post("/recommend", response_model=RecommendOut, response_model_exclude_none=True,
             openapi_extra=body_schema(RecommendIn), responses=error_responses(400, 404, 413, 422),
             summary="Top-k items for a user or an anonymous context")
async def recommend(request: Request) -> Response:
    """Run the served pipeline; recent events of the user (``POST /events``) are taken into account.

    Unknown ``user_id`` values take the cold-start path (fold-in from ``history`` and the
    events logged for that id); with no signal at all, popular items are returned and
    ``fallback`` says so. ``explain=true`` adds the per-stage trace.
    """
    body = await parse_body(request, RecommendIn)
    st = request.app.state
    s = st.settings
    mv: ModelVersion = st.holder.current  # one version for the whole request, even during a swap
    p = mv.pipeline
    k = _checked_k(body, s, p.spec.k)
    context = body.context.model_dump(exclude_none=True)
    online = st.state.history(str(body.user_id)) if body.user_id is not None else []
    history = usable_ids(p.items_, [str(i) for i, _ in online] + [str(i) for i in body.history])
    user = None if body.user_id is None else (usable_ids(p.users_, [str(body.user_id)]) or [None])[0]
    exclude = usable_ids(p.items_, [str(i) for i in body.exclude])
    try:
        req = p.make_request(user, k=k, history=history, context=context, exclude=exclude)
        if req.known_user:  # the online vectors of this user (a read: nothing is written into the model)
            p.with_user_vectors(req, st.updater.user_vectors(mv, str(body.user_id), req.user_index, bool(online)))
        resp = p.recommend(req)
    except ShortlistError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        if not context:
            raise
        # keys beyond the typed ones go to the pipeline's own rules as given: a wrong type there is
        # the caller's error; numpy's message would only confuse, so name the keys instead
        log.debug("context %r rejected: %r", context, exc)
        raise invalid(("body", "context"), f"a value under {sorted(context)} has a type the served pipeline's "
                                           "rules cannot use; send numbers for now/lat/lon/radius_km/price_min/"
                                           "price_max and lists of item ids for item keys") from None
    out = resp.to_dict(p, explain=body.explain)
    items = out["items"]
    fallback = resp.fallback  # the pipeline pads a user with no signal, as for the CLI
    if fallback is not None:
        st.metrics.fallbacks.inc()
    propensities = getattr(resp, "propensities", None)
    request_id = os.urandom(16).hex()  # same shape as uuid4().hex, a third of the cost
    if propensities is not None and len(propensities) == len(out["items"]):
        # an exploring policy chose these items: log what was shown with its probability (for OPE)
        for it, prop in zip(items, propensities):
            it["propensity"] = float(prop)
        if body.user_id is not None:
            await asyncio.to_thread(_log_impressions, st, str(body.user_id), request_id, items[: len(propensities)])
    observe_stage = st.metrics.observe_stage
    for stage in resp.trace.stages:
        observe_stage(stage.stage, stage.ms / 1e3)
    body_out: dict[str, Any] = {"items": items, "model_version": mv.version, "user_known": req.known_user,
                                "request_id": request_id}
    if fallback is not None:
        body_out["fallback"] = fallback
    if "trace" in out:
        body_out["trace"] = out["trace"]
    # the shape is RecommendOut (documented by response_model); skipping its re-validation
    # of our own output saves a good part of the per-request overhead
    return json_response(body_out)
