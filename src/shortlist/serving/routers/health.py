"""``GET /health``: liveness and the served model version."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Request

from shortlist.serving.schemas import HealthOut

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut, summary="Liveness and served model version")
def health(request: Request) -> HealthOut:
    """Report the served version, when it was loaded, and how many distinct events the log holds.

    ``events_logged`` counts stored events (a resent event id is stored once), not the log's
    last ``seq``: SQLite spends a ``seq`` on each refused duplicate too.
    """
    st = request.app.state
    mv = st.holder.current
    return HealthOut(status="ok", model_version=mv.version, model_dir=str(mv.path), loaded_at=mv.loaded_at,
                     uptime_s=time.time() - st.started_at, events_logged=st.event_log.count(),
                     pid=os.getpid(), online=st.online.health(st.event_log.last_seq()))
