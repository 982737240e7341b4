"""Parameter sync from the online trainer to serving: numbered base and delta files, applied whole.

The trainer publishes version ``v`` as one file in the sync folder: ``<v>.base.npz`` (every
row, the dense params) or ``<v>.delta.npz`` (the rows touched since ``v - 1``, the keys
expired since, the dense params when they are due). Each file is written beside its name,
fsynced and renamed, so a reader sees all of a version or none of it. A reader applies the
versions in order onto a copy and swaps one reference, so a request never sees half an update;
when it finds a gap (it fell behind and old deltas were removed, or the trainer restarted and
began with a base) it starts again from the newest base.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.online import _kernels as K
from shortlist.online.checkpoint import load_checkpoint, save_checkpoint
from shortlist.online.training.deepfm import served_predict
from shortlist.online.training.heads import served_value

__all__ = ["OnlineModelReader", "Publisher", "ServedFM"]

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{12})\.(base|delta)\.npz$")


def _versions(folder: Path) -> dict[int, str]:
    out = {}
    for p in folder.glob("*.npz") if folder.exists() else ():
        m = _NAME.match(p.name)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


class Publisher:
    """Writes numbered versions into the sync folder and removes those no reader needs any more."""

    def __init__(self, folder: str | Path, *, keep_bases: int = 2) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep_bases = keep_bases
        self.version = max(_versions(self.folder), default=0)

    def publish(self, kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> int:
        """Write the next version (``kind`` is ``base`` or ``delta``); returns its number."""
        self.version += 1
        save_checkpoint(self.folder / f"{self.version:012d}.{kind}.npz", arrays,
                        {**meta, "version": self.version, "kind": kind, "published_at": time.time()})
        if kind == "base":
            self._prune()
        return self.version

    def _prune(self) -> None:
        versions = _versions(self.folder)
        bases = sorted(v for v, k in versions.items() if k == "base")
        if len(bases) <= self.keep_bases:
            return
        oldest_kept = bases[-self.keep_bases]
        for v, k in versions.items():
            if v < oldest_kept:
                (self.folder / f"{v:012d}.{k}.npz").unlink(missing_ok=True)


@dataclass(frozen=True)
class ServedFM:
    """One complete version of the online FM as serving holds it (sorted keys, their rows, dense params)."""

    version: int
    keys: np.ndarray
    weights: np.ndarray
    dense: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    applied_at: float = 0.0

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Weight rows of ``keys``; a key without a row reads the default row."""
        keys = np.asarray(keys, np.int64)
        idx = np.searchsorted(self.keys, keys).clip(0, max(self.keys.size - 1, 0))
        found = (self.keys[idx] == keys) if self.keys.size else np.zeros(keys.shape, bool)
        default = self.dense[1:1 + self.weights.shape[1]].astype(np.float32)  # a DeepFM's MLP follows it
        return np.where(found[..., None], self.weights[idx] if self.keys.size else default, default)

    def predict(self, keys: np.ndarray) -> np.ndarray:
        """Click probabilities for feature keys (n x fields), as the trainer's model computes them.

        A DeepFM with several heads gives n x heads (one probability per action).
        """
        vecs = self.rows(keys)  # n x fields x (1 + d)
        if self.meta.get("model") == "deepfm":
            p = served_predict(vecs, self.dense, self.meta)
            return p[:, 0] if p.shape[1] == 1 else p
        n, f = keys.shape
        table = vecs.reshape(n * f, -1)
        out = np.empty(n, np.float64)
        K.fm_predict(np.arange(n * f, dtype=np.int32).reshape(n, f), np.ascontiguousarray(table),
                     float(self.dense[0]), out)
        return out


    def score(self, keys: np.ndarray, objectives: dict[str, float] | None = None) -> np.ndarray:
        """The ranking score: the logit, or with heads the value ``sum_h objectives[h] * P(h)``.

        ``objectives`` defaults to the weights the trainer was configured with (``heads``).
        """
        p = self.predict(keys)
        weights = objectives or self.meta.get("objectives")
        if weights:
            return served_value(p.reshape(p.shape[0], -1), list(self.meta.get("heads", [])), weights)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))


def _apply_delta(cur: ServedFM, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ServedFM:
    keys, weights = cur.keys, cur.weights
    expired = arrays["expired"]
    if expired.size:
        keep = ~np.isin(keys, expired)
        keys, weights = keys[keep], weights[keep]
    dk, dw = arrays["keys"], arrays["weights"]
    idx = np.searchsorted(keys, dk).clip(0, max(keys.size - 1, 0))
    found = keys[idx] == dk if keys.size else np.zeros(dk.size, bool)
    weights = weights.copy()  # copy on write: the served version stays whole while this one is built
    weights[idx[found]] = dw[found]
    if (~found).any():
        keys = np.concatenate([keys, dk[~found]])
        weights = np.concatenate([weights, dw[~found]])
        order = np.argsort(keys, kind="stable")
        keys, weights = keys[order], weights[order]
    dense = arrays.get("dense", cur.dense)
    return ServedFM(int(meta["version"]), keys, weights, dense, meta, time.time())


class OnlineModelReader:
    """Serving's view of the sync folder: :attr:`current` is always one whole version (or None)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.current: ServedFM | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def refresh(self) -> bool:
        """Apply every version published since the current one; True when something changed."""
        with self._lock:
            versions = _versions(self.folder)
            cur = self.current
            nxt = None if cur is None else cur.version + 1
            if cur is None or (nxt in versions and versions[nxt] == "base") or (
                    nxt not in versions and any(v > cur.version for v in versions)):
                bases = [v for v, k in versions.items() if k == "base"]
                if not bases:
                    return False
                cur = self._load_base(max(bases))
                if cur is None:
                    return False
            while cur.version + 1 in versions and versions[cur.version + 1] == "delta":
                got = self._read(cur.version + 1, "delta")
                if got is None:
                    break
                cur = _apply_delta(cur, *got)
            changed = self.current is None or cur.version != self.current.version
            self.current = cur  # one reference swap: readers see the old version or the new one
            return changed

    def _read(self, version: int, kind: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        try:
            return load_checkpoint(self.folder / f"{version:012d}.{kind}.npz")
        except (ValueError, FileNotFoundError):  # pruned or replaced under us: the next refresh catches up
            return None

    def _load_base(self, version: int) -> ServedFM | None:
        got = self._read(version, "base")
        if got is None:
            return None
        arrays, meta = got
        return ServedFM(version, arrays["keys"], arrays["weights"], arrays["dense"], meta, time.time())

    def health(self, head_seq: int | None = None) -> dict[str, Any] | None:
        """Version, the last log offset it has trained on, and how far it is behind."""
        cur = self.current
        if cur is None:
            return None
        trained = int(cur.meta.get("trained_seq", 0))
        return {"version": cur.version, "trained_seq": trained, "rows": int(cur.keys.size),
                "published_at": float(cur.meta.get("published_at", 0.0)), "applied_at": cur.applied_at,
                "lag_events": None if head_seq is None else max(0, head_seq - trained),
                # event-to-serving delay of the newest event it holds, and how old the version is
                "lag_s": max(0.0, cur.applied_at - float(cur.meta.get("newest_event_at", cur.applied_at))),
                "age_s": max(0.0, time.time() - float(cur.meta.get("published_at", cur.applied_at)))}

    def start(self, interval_s: float = 0.5) -> None:
        """Refresh on a background thread every ``interval_s``."""
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # a bad file must not stop serving; the next tick retries
                    log.exception("online model refresh failed")
        self._thread = threading.Thread(target=loop, name="online-model-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refresh."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
