"""What the inspector knows about a served version's data: item cards, search, history, distributions (cached)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CatalogView", "catalog_view"]

_CACHE: dict[int, CatalogView] = {}
_LOCK = threading.Lock()


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


@dataclass
class CatalogView:
    """Lookup tables over one pipeline's training data, built once per served version."""

    pipeline: Any
    titles: np.ndarray | None  # item index -> title (None: the data has no title column)
    attributes: dict[str, np.ndarray]  # column -> item index -> printable value (a few categorical columns)
    item_counts: np.ndarray  # training interactions per item
    user_counts: np.ndarray  # training interactions per user

    @classmethod
    def build(cls, pipeline: Any) -> CatalogView:
        data = pipeline.dataset_
        feats = data.item_features
        titles, attributes = None, {}
        if feats is not None:
            kinds = feats.kinds
            text = [n for n in ("title", "name") if kinds.get(n) == "text"]
            titles = feats.text(text[0]).astype(str) if text else None
            for name in [n for n, kind in kinds.items() if kind == "categorical"][:3]:
                codes, cats = feats.categorical(name)
                attributes[name] = np.asarray([*cats, ""], dtype=object)[codes]  # code -1 -> ""
        m = pipeline.train_
        return cls(pipeline, titles, attributes, np.bincount(m.indices, minlength=m.shape[1]), np.diff(m.indptr))

    def card(self, index: int, **extra: Any) -> dict[str, Any]:
        """One item as shown on a card: id, title, a few attributes, training popularity."""
        out = {"index": int(index), "item_id": _py(self.pipeline.items_.ids[index]),
               "title": str(self.titles[index]) if self.titles is not None else "",
               "attributes": {k: v[index] for k, v in self.attributes.items() if v[index] != ""},
               "popularity": int(self.item_counts[index])}
        out.update(extra)
        return out

    def item_index(self, item_id: str) -> int:
        """Index of an external item id as typed in a URL (-1 when unknown)."""
        return _index(self.pipeline.items_, item_id)

    def user_index(self, user_id: str) -> int:
        return _index(self.pipeline.users_, user_id)

    def history(self, user_index: int, limit: int = 50) -> list[dict[str, Any]]:
        """A known user's training interactions, latest first when the data has timestamps."""
        inter = self.pipeline.dataset_.interactions
        m = self.pipeline.train_
        items = m.indices[m.indptr[user_index]:m.indptr[user_index + 1]]
        when = _last_times(inter, user_index, items)
        order = np.argsort(-when, kind="stable") if when is not None else np.arange(items.size)
        return [self.card(int(items[j]), timestamp=None if when is None else float(when[j]))
                for j in order[:limit]]

    def _lowered(self) -> dict[str, np.ndarray]:
        """Lower-case ids and titles, computed on the first search (lowering 100k strings takes ~0.1 s)."""
        if not hasattr(self, "_lower_cache"):
            p = self.pipeline
            self._lower_cache = {"users": _lower(p.users_.ids), "items": _lower(p.items_.ids),
                                 "titles": _lower(self.titles) if self.titles is not None else None}
        return self._lower_cache

    def search(self, query: str, limit: int = 20) -> dict[str, list[Any]]:
        """Users and items whose id starts with ``query``, and items whose title contains it (case-insensitive)."""
        q = query.strip().lower()
        if not q:
            return {"users": [], "items": []}
        lowered = self._lowered()
        users = [_py(self.pipeline.users_.ids[i]) for i in _prefix_index(lowered["users"], q, limit)]
        idx = _prefix_index(lowered["items"], q, limit)
        if self.titles is not None and len(idx) < limit:
            hits = np.flatnonzero(np.char.find(lowered["titles"], q) >= 0)[:limit]
            idx += [int(i) for i in hits if int(i) not in idx][: limit - len(idx)]
        return {"users": users, "items": [self.card(i) for i in idx]}


def _lower(values: np.ndarray) -> np.ndarray:
    return np.char.lower(values.astype(str))


def _index(vocab: Any, raw: str) -> int:
    found = vocab.index(np.asarray([raw]), missing="ignore")
    return int(found[0])


def _prefix_index(text: np.ndarray, q: str, limit: int) -> list[int]:
    exact = np.flatnonzero(text == q)
    starts = np.flatnonzero(np.char.startswith(text, q))
    out = list(dict.fromkeys([*exact.tolist(), *starts.tolist()]))
    return [int(i) for i in out[:limit]]


def _last_times(inter: Any, user_index: int, items: np.ndarray) -> np.ndarray | None:
    """Latest event time of each of the user's items (None without timestamps)."""
    if inter.timestamp is None:
        return None
    rows = np.flatnonzero(inter.user_index == user_index)
    t = np.full(items.size, -np.inf)
    pos = {int(i): j for j, i in enumerate(items)}
    for r in rows:
        j = pos.get(int(inter.item_index[r]))
        if j is not None:
            t[j] = max(t[j], float(inter.timestamp[r]))
    return t


def catalog_view(pipeline: Any) -> CatalogView:
    """The cached view of ``pipeline`` (one per loaded pipeline object)."""
    key = id(pipeline)
    view = _CACHE.get(key)
    if view is None or view.pipeline is not pipeline:
        with _LOCK:
            view = CatalogView.build(pipeline)
            if len(_CACHE) > 4:  # versions come and go with hot swaps: keep the last few
                _CACHE.clear()
            _CACHE[key] = view
    return view
