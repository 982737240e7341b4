"""``GET /metrics``: Prometheus text format (latency per endpoint and stage, events, model version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "router"]

router = APIRouter(tags=["operations"])

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's metrics, in a registry of their own (several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("shortlist_http_request_duration_seconds", "HTTP request latency",
                                 ["endpoint", "method", "status"], registry=r, buckets=_LATENCY_BUCKETS)
        self.stage = Histogram("shortlist_stage_duration_seconds", "Pipeline stage latency", ["stage"],
                               registry=r, buckets=_LATENCY_BUCKETS)
        self.events = Counter("shortlist_events_ingested_total", "Events stored in the log", ["type"], registry=r)
        self.duplicates = Counter("shortlist_events_duplicate_total", "Events ignored as already logged",
                                  registry=r)
        self.update = Histogram("shortlist_event_update_duration_seconds",
                                "Time from a committed batch to updated online state", registry=r,
                                buckets=_LATENCY_BUCKETS)
        self.update_errors = Counter("shortlist_event_update_errors_total",
                                     "Batches stored but not applied to the online state", registry=r)
        self.version = Gauge("shortlist_model_info", "Served model version (value 1)", ["version"], registry=r)
        self.reloads = Counter("shortlist_model_reloads_total", "Model swaps", ["outcome"], registry=r)
        self.fallbacks = Counter("shortlist_recommend_fallback_total", "Responses padded by popular items",
                                 registry=r)
        # labelled children by label values: ``labels()`` validates and locks on every call,
        # a dict lookup does not (a dozen observations per request on the hot path)
        self._latency_children: dict[tuple[str, str, int], Any] = {}
        self._stage_children: dict[str, Any] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Add one HTTP request to the latency histogram."""
        key = (endpoint, method, status)
        child = self._latency_children.get(key)
        if child is None:
            child = self.latency.labels(endpoint=endpoint, method=method, status=str(status))
            if len(self._latency_children) < 4096:  # the method is the client's word: bound the cache
                self._latency_children[key] = child
        child.observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Add one pipeline stage run to the stage histogram."""
        child = self._stage_children.get(stage)
        if child is None:
            child = self._stage_children[stage] = self.stage.labels(stage=stage)
        child.observe(seconds)

    def set_version(self, version: str) -> None:
        """Expose ``version`` as the one served."""
        self.version.clear()
        self.version.labels(version=version).set(1)


@router.get("/metrics", include_in_schema=True, summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this server's metrics."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
