"""Real-time updates: served model versions (hot swap) and the per-event updater.

On each accepted event the :class:`Updater` appends the item to the user's recent history
(so the next request excludes it as seen), bumps trending and bandit counters, and for
every factor model of the served pipeline re-solves the user's vector by fold-in of the
training row plus the new events (so the user's vector moves towards what they just did).
Anonymous/new users need no vector: their recent history makes the pipeline take its
cold-start path (fold-in from history) on every request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.online.event_log import LoggedEvent
from shortlist.online.state import OnlineState

__all__ = ["ModelHolder", "ModelVersion", "Updater", "model_version_id", "usable_ids"]


def model_version_id(folder: str | Path) -> str:
    """``<folder name>@<8 hex of pipeline.json's sha256>``: changes whenever the folder is retrained."""
    folder = Path(folder)
    digest = hashlib.sha256((folder / "pipeline.json").read_bytes()).hexdigest()[:8]
    return f"{folder.resolve().name}@{digest}"


@dataclass(frozen=True)
class ModelVersion:
    """A loaded pipeline and where it came from (immutable: swapped whole, never edited)."""

    pipeline: Any
    version: str
    path: Path
    loaded_at: float


class ModelHolder:
    """The served model version; :meth:`reload` swaps it atomically.

    Requests read :attr:`current` once and use that object to the end, so a swap never
    changes the model under an in-flight request; the old version is freed when the
    last request using it finishes.
    """

    def __init__(self, folder: str | Path, loader: Any = None) -> None:
        from shortlist.pipeline import Pipeline

        self._loader = loader or Pipeline.load
        self._lock = threading.Lock()
        self.current = self._load(Path(folder))

    def _load(self, folder: Path) -> ModelVersion:
        version = model_version_id(folder)
        return ModelVersion(self._loader(folder), version, folder, time.time())

    def reload(self, folder: str | Path | None = None) -> tuple[ModelVersion, bool]:
        """Load ``folder`` (default: the current one again) and swap; returns (version, changed)."""
        with self._lock:
            target = Path(folder) if folder is not None else self.current.path
            if model_version_id(target) == self.current.version and target == self.current.path:
                return self.current, False
            new = self._load(target)
            self.current = new  # one reference assignment: atomic for readers
            return new, True

    def changed_on_disk(self) -> bool:
        """Whether the served folder now holds another version (for directory watching)."""
        try:
            return model_version_id(self.current.path) != self.current.version
        except OSError:  # mid-replacement: check again on the next tick
            return False


def usable_ids(vocab: Any, ids: list[str]) -> list[str]:
    """The ids that can be looked up in ``vocab`` (an integer vocab cannot hold "abc" or 30-digit numbers)."""
    if vocab.kind != "int":
        return ids
    return [i for i in ids if len(i) <= 18 and i.isascii() and i.lstrip("-").isdigit()]


def _is_factor(model: Any) -> bool:
    return hasattr(model, "fold_in_users") and hasattr(model, "user_factors_")


class Updater:
    """Applies accepted events to the online state and to the served user vectors."""

    def __init__(self, state: OnlineState, holder: ModelHolder, *, fold_in: bool = True,
                 non_interaction_types: tuple[str, ...] | list[str] = ("impression", "reward", "feedback")) -> None:
        self.state, self.holder, self.fold_in = state, holder, fold_in
        self.non_interaction = frozenset(non_interaction_types)
        # one batch at a time: a checkpoint taken under this lock never holds half a batch
        self.lock = threading.RLock()
        #: called with each applied batch, under the lock (the checkpointer counts positions there)
        self.listeners: list[Callable[[list[LoggedEvent]], None]] = []

    # -- events ------------------------------------------------------------------------
    def apply(self, events: list[LoggedEvent], *, fold: bool = True) -> int:
        """Update history, counters and vectors for ``events``; returns the number of users refolded.

        ``fold=False`` leaves the vectors alone (a replay folds every touched user once at the end).
        """
        with self.lock:
            by_user = self._apply_counts(events)
            try:
                if not (self.fold_in and fold):
                    return 0
                mv = self.holder.current
                return sum(bool(self.refold(mv, user)) for user in by_user)
            finally:  # the history is in: a replay must not add it twice, even if a fold-in failed
                for listener in self.listeners:
                    listener(events)

    def interaction_users(self, events: list[LoggedEvent]) -> set[str]:
        """Users whose history ``events`` change."""
        return {ev.user_id for ev in events if ev.item_id is not None and ev.type not in self.non_interaction}

    def _apply_counts(self, events: list[LoggedEvent]) -> dict[str, list[tuple[str, float]]]:
        by_user: dict[str, list[tuple[str, float]]] = {}
        first_seq: dict[str, int] = {}
        for ev in events:
            if ev.item_id is None:
                continue
            if ev.type == "impression":
                self.state.bump_bandit(ev.item_id, impressions=1.0)
            elif ev.type in ("reward", "feedback"):
                self.state.bump_bandit(ev.item_id, reward=float(ev.value if ev.value is not None else 1.0))
            if ev.type in self.non_interaction:
                continue
            weight = float(ev.value) if ev.value is not None else 1.0
            by_user.setdefault(ev.user_id, []).append((ev.item_id, weight))
            first_seq.setdefault(ev.user_id, ev.seq)
        latest = max((ev.timestamp for ev in events), default=time.time())
        restore = getattr(self.state, "restore_user", None)
        for user, items in by_user.items():
            if restore is not None:  # an evicted user comes back: their older events first
                restore(user, first_seq[user] or None)
            self.state.add_history(user, items)
            self.state.bump_trending([i for i, w in items if w > 0], latest)
        return by_user

    # -- vectors -----------------------------------------------------------------------
    @staticmethod
    def factor_models(pipeline: Any) -> dict[str, Any]:
        """The pipeline's models that have user vectors and fold-in."""
        return {name: m for name, m in pipeline.models_.items() if _is_factor(m)}

    def user_row(self, model: Any, user_index: int, history: list[tuple[str, float]]) -> sp.csr_matrix:
        """Training row of the user (if known) with recent positive events merged in (max weight per item)."""
        n_items = len(model.items_)
        row = np.zeros(n_items, np.float32)
        if 0 <= user_index < model.train_.shape[0]:
            t = model.train_
            s, e = t.indptr[user_index], t.indptr[user_index + 1]
            row[t.indices[s:e]] = t.data[s:e]
        ok_ids = set(usable_ids(model.items_, [i for i, _ in history]))
        history = [(i, w) for i, w in history if i in ok_ids]
        if history:
            ids = np.asarray([i for i, _ in history])
            w = np.asarray([w for _, w in history], np.float32)
            idx = model.items_.index(ids, missing="ignore")
            ok = (idx >= 0) & (w > 0)
            np.maximum.at(row, idx[ok], w[ok])
        return sp.csr_matrix(row[None, :])

    def user_rows(self, model: Any, user_indices: list[int], histories: list[list[tuple[str, float]]]
                  ) -> sp.csr_matrix:
        """:meth:`user_row` for many users at once (the same values, columns sorted the same way)."""
        t, n_items = model.train_, len(model.items_)
        rows, cols, vals = [], [], []
        for r, (u, history) in enumerate(zip(user_indices, histories)):
            if 0 <= u < t.shape[0]:
                s, e = t.indptr[u], t.indptr[u + 1]
                rows.append(np.full(e - s, r, np.int64))
                cols.append(t.indices[s:e].astype(np.int64))
                vals.append(t.data[s:e].astype(np.float32))
            ids = usable_ids(model.items_, [i for i, _ in history])
            if ids:
                ok_ids = set(ids)
                history = [(i, w) for i, w in history if i in ok_ids]
                idx = model.items_.index(np.asarray([i for i, _ in history]), missing="ignore")
                w = np.asarray([w for _, w in history], np.float32)
                ok = (idx >= 0) & (w > 0)
                rows.append(np.full(int(ok.sum()), r, np.int64))
                cols.append(idx[ok].astype(np.int64))
                vals.append(w[ok])
        n = len(user_indices)
        if not rows:
            return sp.csr_matrix((n, n_items), dtype=np.float32)
        row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        order = np.lexsort((col, row))
        row, col, val = row[order], col[order], val[order]
        first = np.ones(len(row), bool)
        first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        starts = np.flatnonzero(first)
        val = np.maximum.reduceat(val, starts) if len(starts) else val  # max weight per item, as user_row
        row, col = row[starts], col[starts]
        keep = val != 0  # a dense row turned sparse drops zeros
        row, col, val = row[keep], col[keep], val[keep]
        indptr = np.zeros(n + 1, np.int64)
        np.add.at(indptr, row + 1, 1)
        return sp.csr_matrix((val, col.astype(np.int32), np.cumsum(indptr)), shape=(n, n_items))

    def refold(self, mv: ModelVersion, user_id: str) -> dict[str, np.ndarray]:
        """Re-solve a known user's vector in every factor model; store and serve it."""
        pipeline = mv.pipeline
        if not usable_ids(pipeline.users_, [user_id]):
            return {}
        u = int(pipeline.users_.index([user_id], missing="ignore")[0])
        if u < 0:
            return {}
        history = self.state.history(user_id)
        out = {}
        for name, model in self.factor_models(pipeline).items():
            if u >= model.user_factors_.shape[0]:
                continue
            vec = np.asarray(model.fold_in_users(self.user_row(model, u, history))[0], np.float32)
            model.user_factors_[u] = vec
            self.state.set_vector(f"{mv.version}/{name}", user_id, vec)
            out[name] = vec
        return out

    def refold_many(self, mv: ModelVersion, user_ids: list[str], chunk: int = 4096) -> int:
        """:meth:`refold` for many users with one fold-in call per chunk and model (rows are solved alone,
        so the vectors are the same as one by one); returns the number of known users refolded."""
        pipeline = mv.pipeline
        ids = usable_ids(pipeline.users_, list(user_ids))
        if not ids:
            return 0
        idx = pipeline.users_.index(np.asarray(ids), missing="ignore")
        known = [(u, int(i)) for u, i in zip(ids, idx) if i >= 0]
        for name, model in self.factor_models(pipeline).items():
            rows = [(u, i) for u, i in known if i < model.user_factors_.shape[0]]
            key = f"{mv.version}/{name}"
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                mat = self.user_rows(model, [i for _, i in part], [self.state.history(u) for u, _ in part])
                vecs = np.asarray(model.fold_in_users(mat), np.float32)
                for (u, i), vec in zip(part, vecs):
                    model.user_factors_[i] = vec
                    self.state.set_vector(key, u, vec)
        return len(known)

    def user_vectors(self, mv: ModelVersion, user_id: str, user_index: int, has_history: bool
                     ) -> dict[str, np.ndarray]:
        """A known user's online vectors for this request (model name -> vector); reads, never writes.

        The vectors come from the online state, where ingesting the user's events put them.
        Where this version has none yet (just after a swap, or before another replica stored
        it), the vector is solved from the recent history for this request alone. The caller
        passes them to ``Pipeline.make_request``: a read never writes into the served model.
        """
        if not (self.fold_in and has_history and user_index >= 0):
            return {}
        out: dict[str, np.ndarray] = {}
        history = None
        for name, model in self.factor_models(mv.pipeline).items():
            if user_index >= model.user_factors_.shape[0]:
                continue
            vec = self.state.get_vector(f"{mv.version}/{name}", user_id)
            if vec is None or vec.shape != model.user_factors_[user_index].shape:
                history = self.state.history(user_id) if history is None else history
                vec = np.asarray(model.fold_in_users(self.user_row(model, user_index, history))[0], np.float32)
            out[name] = vec
        return out
