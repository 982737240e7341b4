"""The streaming trainer: tail the event stream, join labels, train the FM, publish, snapshot.

One step reads a chunk of events after the stored offset, feeds them to the label joiner,
trains the FM on the examples that come out (in mini-batches, predicting each before it
learns from it: progressive validation), and advances the offset. Snapshots are taken only
between steps, and hold the parameters, the joiner and the offset together in one file, so
after ``kill -9`` the trainer resumes at a step boundary and replays from that offset: no
event is trained twice or skipped.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from shortlist.online.checkpoint import load_checkpoint, save_checkpoint
from shortlist.online.embeddings import CollisionlessTable, TableConfig
from shortlist.online.training.batch import ExampleBatch
from shortlist.online.training.deepfm import build_model, serving_meta
from shortlist.online.training.heads import check_heads, head_labels, head_metrics
from shortlist.online.training.joiner import JoinerConfig, LabelJoiner
from shortlist.online.training.stream import EventStream
from shortlist.online.training.sync import Publisher

__all__ = ["OnlineTrainer", "TrainerConfig", "auc"]


class TrainerConfig(BaseModel):
    """Everything the online trainer does, validated once (errors name the key)."""

    model_config = ConfigDict(extra="forbid")
    fields: tuple[str, ...] = ("user", "item")
    model: Literal["fm", "deepfm"] = Field("fm", description="deepfm: the FM plus an MLP over the field embeddings")
    hidden: tuple[PositiveInt, ...] = Field((32, 16), description="deepfm: the MLP's layer widths")
    dense_lr: float = Field(0.01, gt=0, description="deepfm: Adam step of the dense (MLP) params")
    heads: dict[str, float] = Field(default_factory=dict,
                                    description="deepfm: action -> weight of its head in the served value")
    seed: int = Field(0, description="deepfm: seed of the MLP's initial weights")
    lr: float = Field(0.05, gt=0)
    l2: float = Field(0.0, ge=0)
    batch_size: int = Field(1024, ge=1)
    read_limit: int = Field(20_000, ge=1, description="events read from the stream per step")
    sync_every_s: float = Field(5.0, gt=0, description="publish the rows touched since the last sync")
    dense_every_s: float = Field(60.0, gt=0, description="publish the dense params (bias, default row)")
    base_every_s: float = Field(600.0, gt=0, description="publish every row (readers that fell behind restart)")
    snapshot_every_s: float = Field(30.0, gt=0, description="write the trainer's snapshot")
    idle_close: bool = Field(True, description="with no new events, close label windows by the wall clock")
    metrics_window: int = Field(100_000, ge=100, description="examples the running loss and AUC cover")
    table: TableConfig = TableConfig()
    joiner: JoinerConfig = JoinerConfig()

    @model_validator(mode="after")
    def _heads(self) -> TrainerConfig:
        check_heads(self.heads, self.model, self.joiner)
        if self.heads and "update_actions" not in self.joiner.model_fields_set:  # a head trains on every action
            self.joiner = self.joiner.model_copy(update={"update_actions": True})
        return self


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by ranks (ties share their mean rank); NaN when one class is missing."""
    labels = np.asarray(labels) > 0
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = np.asarray(scores)[order]
    ranks = np.empty(len(s))
    bounds = np.flatnonzero(np.diff(s)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class OnlineTrainer:
    """Trains an :class:`OnlineFM` from an :class:`EventStream`; snapshots and syncs into ``folder``."""

    def __init__(self, stream: EventStream, folder: str | Path, config: TrainerConfig | None = None) -> None:
        self.stream = stream
        self.folder = Path(folder)
        self.config = config or TrainerConfig()
        self.snapshot_path = self.folder / "trainer.npz"
        self.publisher = Publisher(self.folder / "sync")
        self.offset = 0
        self.ledger = {"examples": 0, "seq_sum": 0}  # what has been trained, to audit replays
        self._recent: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._n_recent = 0
        self._newest_event_at = 0.0
        if not self._restore():
            c = self.config
            self.model = build_model(CollisionlessTable(c.table), c)
            self.joiner = LabelJoiner(c.joiner)
        now = time.monotonic()
        self._due = {"sync": now + self.config.sync_every_s, "dense": now + self.config.dense_every_s,
                     "base": now + self.config.base_every_s, "snapshot": now + self.config.snapshot_every_s}
        self.publish(base=True)  # a fresh start or a resume: serving restarts from a whole version

    # -- the loop ------------------------------------------------------------------------
    def step(self) -> int:
        """Read, join and train one chunk; returns the number of events read."""
        events = self.stream.read(self.offset, self.config.read_limit)
        if len(events):
            self.train(self.joiner.join(events))
            self.offset = events.last_seq
            self._newest_event_at = max(self._newest_event_at, float(events.received_at.max()))
        elif self.config.idle_close:
            self.train(self.joiner.advance(time.time()))
        return len(events)

    def train(self, examples: ExampleBatch) -> None:
        """Train on joined examples in mini-batches (predictions before updates feed the metrics)."""
        if not len(examples):
            return
        cols = {"user": examples.user_id, "item": examples.item_id}
        if "position" in self.model.fields:  # keyed as text: -1 (no position) is not an integer id
            cols["position"] = examples.position.astype(str)
        keys = self.model.keys(cols)
        labels = examples.label.astype(np.float64)
        weights = examples.weight
        if self.config.heads:  # one label per head, from the action bits of each example
            labels = head_labels(examples.actions, labels, self.joiner.config, tuple(self.config.heads))
        now = self.joiner.watermark if np.isfinite(self.joiner.watermark) else 0.0
        bs = self.config.batch_size
        for start in range(0, len(examples), bs):
            sl = slice(start, start + bs)
            pred, _ = self.model.train(keys[sl], labels[sl], weights[sl], now)
            keep = weights[sl] > 0  # a take-back step is no new prediction
            self._remember(pred[keep], labels[sl][keep])
        self.ledger["examples"] += len(examples)
        self.ledger["seq_sum"] += int(np.where(examples.weight > 0, examples.seq, -examples.seq).sum())

    def run(self, *, max_seconds: float | None = None, until_idle: bool = False, poll_s: float = 0.2,
            on_step: Any = None) -> None:
        """Step until stopped (``max_seconds``, or the stream runs dry with ``until_idle``); snapshot at the end."""
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while t_end is None or time.monotonic() < t_end:
                n = self.step()
                self.maybe_publish_and_snapshot()
                if on_step is not None:
                    on_step(self, n)
                if n == 0:
                    if until_idle:
                        break
                    time.sleep(poll_s)
        finally:
            self.snapshot()

    def maybe_publish_and_snapshot(self) -> None:
        """Publish a delta, the dense params, a base or a snapshot when their interval is up."""
        now, due, c = time.monotonic(), self._due, self.config
        if now >= due["base"]:
            self.publish(base=True)
            due["base"], due["sync"], due["dense"] = now + c.base_every_s, now + c.sync_every_s, now + c.dense_every_s
        elif now >= due["sync"]:
            dense = now >= due["dense"]
            self.publish(base=False, dense=dense)
            due["sync"] = now + c.sync_every_s
            if dense:
                due["dense"] = now + c.dense_every_s
        if now >= due["snapshot"]:
            self.snapshot()
            due["snapshot"] = now + c.snapshot_every_s

    # -- sync ----------------------------------------------------------------------------
    def publish(self, *, base: bool = False, dense: bool = True) -> int:
        """Publish the touched rows (or every row with ``base``); returns the version."""
        table = self.model.table
        keys, weights, expired = table.take_changes()
        meta = {"trained_seq": self.offset, "newest_event_at": self._newest_event_at,
                "examples": self.ledger["examples"], "fields": list(self.model.fields),  # the key order
                **serving_meta(self.model), "objectives": dict(self.config.heads)}
        if base:
            rows = np.flatnonzero(table.in_use)
            order = np.argsort(table.row_keys[rows], kind="stable")
            arrays = {"keys": table.row_keys[rows][order], "weights": table.weights[rows][order]}
        else:
            arrays = {"keys": keys, "weights": weights, "expired": expired}
        if base or dense:
            arrays["dense"] = self.model.dense_params()
        return self.publisher.publish("base" if base else "delta", arrays, meta)

    # -- progress ------------------------------------------------------------------------
    def _remember(self, pred: np.ndarray, labels: np.ndarray) -> None:
        self._recent.append((pred, labels))
        self._n_recent += pred.size
        while self._n_recent - self._recent[0][0].size >= self.config.metrics_window:
            self._n_recent -= self._recent.popleft()[0].size

    def progress(self) -> dict[str, Any]:
        """Offset, lag behind the stream's head, running log-loss and AUC, table use."""
        if self._recent:
            p = np.clip(np.concatenate([r[0] for r in self._recent]), 1e-12, 1 - 1e-12)
            y = np.concatenate([r[1] for r in self._recent])
            heads = head_metrics(p, y, tuple(self.config.heads), auc) if p.ndim == 2 else {}
            if heads:  # the value model's heads: their mean here, each one under "heads"
                loss, a = (float(np.nanmean([h[k] for h in heads.values()])) for k in ("logloss", "auc"))
            else:
                loss, a = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), auc(p, y)
        else:
            loss, a, heads = float("nan"), float("nan"), {}
        return {"offset": self.offset, "lag_events": max(0, self.stream.head() - self.offset),
                "examples": self.ledger["examples"], "logloss": loss, "auc": a, "version": self.publisher.version,
                **self.model.table.stats(), "pending": self.joiner.n_pending,
                **({"heads": heads} if heads else {})}

    # -- snapshots -----------------------------------------------------------------------
    def snapshot(self) -> None:
        """Write parameters, joiner state and offset together, atomically."""
        t_arrays, t_meta = self.model.table.state()
        j_arrays, j_meta = self.joiner.state()
        arrays = {**{f"table.{k}": v for k, v in t_arrays.items()}, **{f"joiner.{k}": v for k, v in j_arrays.items()},
                  "dense": self.model.dense}
        meta = {"offset": self.offset, "ledger": self.ledger, "table": t_meta, "joiner": j_meta,
                "config": self.config.model_dump(mode="json"), "newest_event_at": self._newest_event_at}
        save_checkpoint(self.snapshot_path, arrays, meta)

    def _restore(self) -> bool:
        got = load_checkpoint(self.snapshot_path)
        if got is None:
            return False
        arrays, meta = got
        table = CollisionlessTable.from_state(arrays, meta["table"], prefix="table.")
        self.model = build_model(table, self.config)
        self.model.dense = arrays["dense"].astype(np.float64)
        j_meta = meta["joiner"]
        if "update_actions" not in j_meta["config"]:  # saved before the flag existed: this config sets it
            j_meta = {**j_meta, "config": {**j_meta["config"], "update_actions": self.config.joiner.update_actions}}
        self.joiner = LabelJoiner.from_state({k[7:]: v for k, v in arrays.items() if k.startswith("joiner.")}, j_meta)
        self.offset, self.ledger = int(meta["offset"]), dict(meta["ledger"])
        self._newest_event_at = float(meta.get("newest_event_at", 0.0))
        return True
