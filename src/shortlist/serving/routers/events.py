"""``POST /events``: store a batch durably (idempotent by event id), then update the online state."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from shortlist.online.event_log import LoggedEvent
from shortlist.serving.errors import error_responses, invalid
from shortlist.serving.fast import body_schema, parse_body
from shortlist.serving.schemas import EventIn, EventsIn, EventsOut
from shortlist.serving.security import require_api_key

__all__ = ["router"]

router = APIRouter(tags=["events"])
log = logging.getLogger("shortlist.serving")


def _logged(ev: EventIn, now: float) -> LoggedEvent:
    return LoggedEvent(
        event_id=ev.event_id, user_id=str(ev.user_id), item_id=None if ev.item_id is None else str(ev.item_id),
        # an event cannot happen after it arrived: a client clock ahead of ours (or a typo in the
        # year) would otherwise rank its item at the top of trending for as long as it is ahead
        type=ev.type, timestamp=min(float(ev.timestamp), now) if ev.timestamp is not None else now,
        value=None if ev.value is None else float(ev.value),
        propensity=None if ev.propensity is None else float(ev.propensity),
        position=ev.position, request_id=ev.request_id, extra=ev.extra)


# The body is parsed in the handler, after the key check (a dependency): a wrong key is a 401
# whatever the body holds.
@router.post("/events", response_model=EventsOut, dependencies=[Depends(require_api_key)],
             openapi_extra=body_schema(EventsIn), responses=error_responses(400, 401, 413, 422),
             summary="Log interactions, impressions (with propensities) and rewards")
async def post_events(request: Request) -> EventsOut:
    """Commit the batch to the event log before answering; resent event ids count as duplicates.

    Interactions update the user's recent history (seen items are excluded from then on)
    and re-solve their vector in factor models; impressions and rewards feed bandit counters.
    Events on items the served catalog does not hold are logged and counted (they may be new
    items on the way) but stay out of every answer until a model version holds them.
    """
    body = await parse_body(request, EventsIn)
    limit = request.app.state.settings.max_batch
    if len(body.events) > limit:
        raise invalid(("body", "events"), f"{len(body.events)} events in one batch; send at most "
                                          f"max_batch={limit} per request", "too_long")
    return await asyncio.to_thread(_store, request.app.state, body)


def _store(st: Any, body: EventsIn) -> EventsOut:
    """Append to the log (a blocking SQLite commit: off the event loop) and update the online state."""
    now = time.time()
    stored, duplicates = st.event_log.append([_logged(ev, now) for ev in body.events])
    metrics = st.metrics
    for ev in stored:
        metrics.events.labels(type=ev.type).inc()
    if duplicates:
        metrics.duplicates.inc(duplicates)
    t0 = time.perf_counter()
    users = 0
    try:
        users = st.updater.apply(stored)
    except Exception:  # the events are durable already; a failed update must not make clients resend
        metrics.update_errors.inc()
        log.exception("online update failed for %d stored events", len(stored))
    metrics.update.observe(time.perf_counter() - t0)
    return EventsOut(accepted=len(stored), duplicates=duplicates, last_seq=stored[-1].seq if stored else 0,
                     users_updated=users)
