"""Restart-safe online state: rebuild it from checkpoint + event log on start, checkpoint while serving.

Memory state: load the checkpoint (if any), then replay only the events logged after its
position (plus the few it marks pending). Redis state persists by itself; Redis keeps the
position it holds (``applied_seq``) and a starting replica replays the events after it, so
events committed just before a crash still reach the state; an empty Redis is rebuilt from
the whole log. Replay applies the logged batches as they were applied live (one batch per
``received_at``: the same trending weights), then folds every touched user in once: a
user's vector depends only on their final history, so the result equals the live one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.online.checkpoint import load_checkpoint, save_checkpoint
from shortlist.online.event_log import EventLog, LoggedEvent
from shortlist.online.memory_state import MemoryState
from shortlist.online.updater import Updater, usable_ids

__all__ = ["Checkpointer", "RestoreReport", "replay", "restore_state"]

log = logging.getLogger("shortlist.online")


@dataclass
class RestoreReport:
    """What a start-up restore did."""

    checkpoint_seq: int
    last_seq: int  # the state holds every logged event up to here
    replayed_events: int
    refolded_users: int
    seconds: float
    source: str  # "checkpoint", "log" or "redis"


def _batches(events: Iterable[LoggedEvent]) -> Iterator[list[LoggedEvent]]:
    """Consecutive events of one ``append`` call (same ``received_at``) as one batch."""
    batch: list[LoggedEvent] = []
    for ev in events:
        if batch and ev.received_at != batch[-1].received_at:
            yield batch
            batch = []
        batch.append(ev)
    if batch:
        yield batch


def replay(updater: Updater, events: Iterable[LoggedEvent]) -> tuple[int, set[str], int]:
    """Apply logged events batch by batch without fold-in; returns (events, users to fold in, last seq)."""
    n, users, last = 0, set(), 0
    for batch in _batches(events):
        last = max(last, batch[-1].seq)
        try:
            updater.apply(batch, fold=False)
        except Exception:  # the same failure would have been logged live; keep the rest
            log.exception("replaying %d events from seq %d failed", len(batch), batch[0].seq)
        n += len(batch)
        users |= updater.interaction_users(batch)
    return n, users, last


class Checkpointer:
    """Tracks which logged events the memory state holds and writes checkpoints (count, time, shutdown)."""

    def __init__(self, state: MemoryState, event_log: EventLog, updater: Updater, path: str | Path, *,
                 every_events: int = 10_000, every_s: float = 300.0, seq: int = 0,
                 pending: Iterable[int] = ()) -> None:
        self.state, self.log, self.updater, self.path = state, event_log, updater, Path(path)
        self.every_events, self.every_s = every_events, every_s
        self.seq, self.pending, self.applied_after = int(seq), set(pending), set()
        self.since = 0  # events applied since the last checkpoint
        self.written = 0
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        updater.listeners.append(self._on_applied)

    def _on_applied(self, events: list[LoggedEvent]) -> None:  # runs under updater.lock
        for ev in events:
            if ev.seq in self.pending:
                self.pending.discard(ev.seq)
            elif ev.seq > self.seq:
                self.applied_after.add(ev.seq)
        self.since += len(events)
        if self.every_events and self.since >= self.every_events:
            self._wake.set()

    def checkpoint(self) -> int:
        """Snapshot the state now and write it; returns the file size in bytes."""
        with self.updater.lock:  # no batch half-applied in the snapshot
            upto = self.log.last_seq()
            # committed (seq <= upto) but not applied yet: another thread is between append and apply
            unapplied = set(self.log.seqs(self.seq, upto)) - self.applied_after
            self.pending |= unapplied
            self.seq, self.applied_after, self.since = upto, set(), 0
            arrays = self.state.snapshot()
            meta = {"seq": upto, "pending": sorted(self.pending), "history_length": self.state.history_length,
                    "model_version": self.updater.holder.current.version, "written_at": time.time(),
                    "users": len(self.state)}
        size = save_checkpoint(self.path, arrays, meta)
        self.written += 1
        return size

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every_s or None)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self.since:
                try:
                    t0 = time.perf_counter()
                    size = self.checkpoint()
                    log.info("checkpoint of %d users (%d bytes) in %.2f s", len(self.state), size,
                             time.perf_counter() - t0)
                except Exception:  # a full disk must not stop serving; the log still has every event
                    log.exception("writing the checkpoint %s failed", self.path)

    def start(self) -> None:
        """Checkpoint in a background thread from now on."""
        if self._thread is None and (self.every_events or self.every_s):
            self._thread = threading.Thread(target=self._run, name="shortlist-checkpoint", daemon=True)
            self._thread.start()

    def close(self, *, final: bool = True) -> None:
        """Stop the thread and (``final``) write a last checkpoint if anything changed."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        if final and (self.since or not self.path.exists()):
            self.checkpoint()


def _push_vectors(state: MemoryState, updater: Updater) -> None:
    """Checkpointed vectors of the served version back into its models (they were edited in place live)."""
    mv = updater.holder.current
    for name, model in updater.factor_models(mv.pipeline).items():
        ids, vecs = state.vectors(f"{mv.version}/{name}")
        usable = set(usable_ids(mv.pipeline.users_, ids))
        pick = [j for j, u in enumerate(ids) if u in usable]
        if not pick:
            continue
        idx = mv.pipeline.users_.index(np.asarray([ids[j] for j in pick]), missing="ignore")
        ok = (idx >= 0) & (idx < model.user_factors_.shape[0])
        model.user_factors_[idx[ok]] = vecs[np.asarray(pick)[ok]]


def restore_state(state: Any, event_log: EventLog, updater: Updater, *,
                  checkpoint: str | Path | None = None) -> RestoreReport:
    """Bring ``state`` up to the end of ``event_log`` (memory: from ``checkpoint``; Redis: from its position)."""
    t0 = time.perf_counter()
    if isinstance(state, MemoryState):
        seq, pending, source = 0, [], "log"
        loaded = None
        if checkpoint is not None:
            try:
                loaded = load_checkpoint(checkpoint)
            except ValueError as exc:  # rebuild from the whole log rather than refuse to start
                log.warning("%s; rebuilding the online state from the event log", exc)
        if loaded is not None:
            arrays, meta = loaded
            state.restore(arrays)
            seq, pending, source = int(meta["seq"]), list(meta.get("pending", [])), "checkpoint"
            if updater.fold_in:
                _push_vectors(state, updater)
        events = _chain(event_log.read_seqs(pending), event_log.iter_all(seq))
        n, users, last = replay(updater, events)
    else:
        with state.rebuild_lock():  # one replica replays; the others then find nothing left to do
            seq, source = state.applied_seq(), "redis"
            if seq is None:
                seq = event_log.last_seq() if _redis_has_state(state) else 0
            n, users, last = replay(updater, event_log.iter_all(seq))
            if last:
                state.mark_applied(last)
    refolded = updater.refold_many(updater.holder.current, sorted(users)) if updater.fold_in and users else 0
    return RestoreReport(seq, max(seq, last), n, refolded, time.perf_counter() - t0, source)


def _chain(*parts: Iterable[LoggedEvent]) -> Iterator[LoggedEvent]:
    for part in parts:
        yield from part


def _redis_has_state(state: Any) -> bool:
    """Whether Redis already holds histories (written by a version that did not record its position)."""
    return next(iter(state.r.scan_iter(match=f"{state.p}:hist:*", count=1000)), None) is not None
