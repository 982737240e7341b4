"""The FastAPI application factory: ``create_app(settings) -> FastAPI`` (OpenAPI page at /docs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from shortlist.online.event_log import EventLog
from shortlist.online.memory_state import MemoryState
from shortlist.online.recovery import Checkpointer, restore_state
from shortlist.online.state import make_state
from shortlist.online.training.ranking import attach_online
from shortlist.online.training.sync import OnlineModelReader
from shortlist.online.updater import ModelHolder, Updater
from shortlist.serving.docs import install_docs
from shortlist.serving.errors import error_body, install_error_handlers
from shortlist.serving.openapi import install_openapi
from shortlist.serving.routers import admin, events, health, items, metrics, recommend
from shortlist.serving.settings import Settings, load_settings
from shortlist.serving.ui import router as ui_router

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("shortlist.serving")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _Guard:
    """Pure ASGI middleware: body size limit (413) and latency histograms per endpoint.

    Bodies without Content-Length are read up to the limit before the app sees them, so an
    oversized chunked upload is refused with 413 too, not cut off mid-parse.
    """

    def __init__(self, app: Any, *, max_body: int, metrics: Any) -> None:
        self.app, self.max_body, self.metrics = app, max_body, metrics

    async def _reject(self, send: Any, status: int, message: str) -> None:
        body = json.dumps(error_body(status, message)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            length = None
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    length = value
            if length is not None and scope.get("method") in _BODY_METHODS:
                if not length.isdigit():
                    await self._reject(send_status, 400, "Content-Length must be a non-negative integer")
                    return
                if int(length) > self.max_body:
                    await self._reject(send_status, 413, f"request body of {int(length)} bytes exceeds "
                                                         f"max_body_bytes={self.max_body}")
                    return
            elif scope.get("method") in _BODY_METHODS:
                chunks, size = [], 0
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # client went away
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    if size > self.max_body:
                        await self._reject(send_status, 413, f"request body exceeds max_body_bytes={self.max_body}")
                        return
                    if not message.get("more_body", False):
                        break
                whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                replayed = [False]

                async def receive_again() -> dict:
                    if not replayed[0]:
                        replayed[0] = True
                        return whole
                    return await receive()

                receive = receive_again
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(endpoint, scope.get("method", ""), status[0], time.perf_counter() - t0)


async def _watch(app: FastAPI, interval: float) -> None:
    """Swap when the served folder is replaced (e.g. a symlink flipped to a new version)."""
    while True:
        await asyncio.sleep(interval)
        holder = app.state.holder
        if await asyncio.to_thread(holder.changed_on_disk):
            try:
                await asyncio.to_thread(admin.reload_model, app, None)
            except Exception:  # a half-written folder: keep serving, retry on the next tick
                log.exception("reload after a change in %s failed", holder.current.path)


def _limit_threads(threads: int) -> Callable[[], None]:
    """Hold BLAS/OpenMP (process-wide) and numba (this thread: the one running async endpoints) to ``threads``.

    Returns the function that restores the previous limits (at shutdown: an app built in a
    test process leaves that process as it found it).
    """
    if not threads:
        return lambda: None
    import numba
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=threads)
    numba_before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))

    def restore() -> None:
        limiter.restore_original_limits()
        numba.set_num_threads(numba_before)

    return restore


def _restore(settings: Settings, state: Any, event_log: EventLog, updater: Updater) -> Checkpointer | None:
    """Rebuild the online state from checkpoint + log; returns the checkpointer of a memory state (else None)."""
    is_memory = isinstance(state, MemoryState)
    path = settings.resolved_checkpoint_path() if is_memory else None
    if is_memory:
        history_length, skip = settings.history_length, frozenset(settings.non_interaction_types)
        # an evicted user who comes back gets their history from the log
        state.loader = lambda user, before: event_log.recent_interactions(user, history_length, skip_types=skip,
                                                                          before=before)
    seq = event_log.last_seq()  # restore_state off: the state starts empty at the end of the log
    replayed = 0
    if settings.restore_state:
        report = restore_state(state, event_log, updater, checkpoint=path)
        seq, replayed = report.last_seq, report.replayed_events
        log.info("online state restored from %s in %.2f s: %d events replayed after seq %d, %d users folded in",
                 report.source, report.seconds, report.replayed_events, report.checkpoint_seq,
                 report.refolded_users)
    if not is_memory:
        updater.listeners.append(lambda events: state.mark_applied(max(ev.seq for ev in events)) if events else None)
        return None
    checkpointer = Checkpointer(state, event_log, updater, path, every_events=settings.checkpoint_every_events,
                                every_s=settings.checkpoint_every_s, seq=seq)
    checkpointer.since = replayed  # a long replay is worth a checkpoint soon
    return checkpointer


def create_app(settings: Settings) -> FastAPI:
    """Build the app: load the model, open the event log and the state store, mount the routers."""
    from shortlist.core.version import __version__
    from shortlist.pipeline import Pipeline

    settings.check_security()
    online = OnlineModelReader(Path(settings.model_dir) / "online" / "sync")  # what `train-online` publishes
    # every version the holder loads (start, reload, a flipped folder) scores its online-fm stages with it
    holder = ModelHolder(settings.model_dir, loader=lambda folder: attach_online(Pipeline.load(folder), online))
    event_log = EventLog(settings.resolved_events_db(), durability=settings.durability)
    state = make_state(settings)
    updater = Updater(state, holder, fold_in=settings.fold_in, non_interaction_types=settings.non_interaction_types)
    checkpointer = _restore(settings, state, event_log, updater)
    m = metrics.Metrics()
    m.set_version(holder.current.version)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch(app, settings.watch_interval_s)) if settings.watch_interval_s else None
        restore_threads = _limit_threads(settings.threads)
        if checkpointer is not None:
            checkpointer.start()
        online.start()
        try:
            yield
        finally:
            restore_threads()
            online.stop()
            if task is not None:
                task.cancel()
            if checkpointer is not None:  # graceful stop: the next start replays nothing
                await asyncio.to_thread(checkpointer.close)
            event_log.close()
            state.close()

    app = FastAPI(title="Shortlist", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Multi-stage recommendations, event ingestion and online updates.")
    app.state.settings = settings
    app.state.holder = holder
    app.state.event_log = event_log
    app.state.state = state
    app.state.updater = updater
    app.state.checkpointer = checkpointer
    app.state.metrics = m
    app.state.started_at = time.time()
    app.state.online = online
    install_error_handlers(app)
    install_openapi(app, settings)
    install_docs(app)
    for module in (recommend, items, events, health, metrics, admin):
        app.include_router(module.router)
    app.include_router(ui_router)  # the inspector at /ui (docs/ui.md)
    app.add_middleware(_Guard, max_body=settings.max_body_bytes, metrics=m)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and worker processes: settings from the environment."""
    return create_app(load_settings())
