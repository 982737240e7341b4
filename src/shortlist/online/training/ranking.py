"""The online FM as a ranking stage: candidates scored with the version the sync reader serves.

``[[stages]] kind = "online-fm"`` scores each candidate with the FM that ``shortlist
train-online`` publishes (the keys are built exactly as the trainer builds them: one per
field, from the raw user and item ids). The stage reads :attr:`OnlineModelReader.current`
once per request, so a request is scored by one whole version even while the reader swaps in
the next. ``shortlist serve`` attaches its reader to every such stage of each version it
loads (:func:`attach_online`); with no version published yet the stage keeps the order it was
given, and with ``stack = true`` it adds its logit to the previous stage's standardised score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.online.embeddings import feature_keys
from shortlist.online.training.sync import OnlineModelReader, ServedFM

__all__ = ["FIELDS", "OnlineScorer", "attach_online"]

#: the fields a ranking request can fill (``position`` with the constant the stage is given)
FIELDS = ("user", "item", "position")
#: the user field of an anonymous request: a key no trained id has, so it reads the default row
_ANONYMOUS = "\x00anonymous"


class OnlineScorer:
    """Scores (user, candidate items) with a served :class:`ServedFM`; holds no parameters itself."""

    def __init__(self, fields: tuple[str, ...] | list[str] = ("user", "item"), position: int = 0,
                 previous_weight: float = 1.0, base_feature: str | None = None,
                 objectives: dict[str, float] | None = None) -> None:
        bad = [f for f in fields if f not in FIELDS]
        if bad or not fields:
            raise TypeError(f"fields={list(fields)}: each must be one of {list(FIELDS)} (what a request can fill)")
        self.fields = tuple(fields)
        self.position = int(position)
        self.previous_weight = float(previous_weight)
        self.objectives = None if objectives is None else {str(k): float(v) for k, v in objectives.items()}
        self.stacked = base_feature is not None  # set by the stage when ``stack = true``
        self.reader: OnlineModelReader | None = None
        self.vocab: Any = None
        self._item_keys: dict[int, np.ndarray] = {}

    def attach(self, reader: OnlineModelReader | None, vocab: Any) -> None:
        """Serve from ``reader``; ``vocab`` maps the pipeline's item indices to raw ids."""
        self.reader, self.vocab, self._item_keys = reader, vocab, {}

    def _items(self, field: int, items: np.ndarray) -> np.ndarray:
        # the catalog's keys once per field position: a request then indexes, no hashing per call
        if field not in self._item_keys:
            ids = self.vocab.lookup(np.arange(len(self.vocab)))
            self._item_keys[field] = feature_keys(field, ids if ids.dtype.kind in "iu" else ids.astype(str))
        return self._item_keys[field][items]

    def keys(self, served: ServedFM, user_id: Any, items: np.ndarray) -> np.ndarray:
        """Feature keys (candidates x fields) in the field order the served version was trained with."""
        fields = tuple(served.meta.get("fields", self.fields))
        cols = []
        for f, name in enumerate(fields):
            if name == "item":
                cols.append(self._items(f, items))
                continue
            if name == "user":
                value = _ANONYMOUS if user_id is None else str(user_id)
            elif name == "position":
                value = str(self.position)
            else:  # a field the trainer has and a request cannot fill
                raise ValueError(f"the served online FM was trained on field {name!r}; the online-fm stage "
                                 f"can fill only {list(FIELDS)}")
            cols.append(np.full(items.size, feature_keys(f, np.array([value]))[0], np.int64))
        return np.stack(cols, axis=1)

    def score(self, user_id: Any, items: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """The logit of each candidate, or a value model's value (+ the weighted previous score when stacked)."""
        items = np.asarray(items, np.int64)
        served = None if self.reader is None else self.reader.current  # one read: one whole version
        prev = np.zeros(items.size) if previous is None else np.nan_to_num(np.asarray(previous, np.float64))
        if served is None or self.vocab is None:
            # nothing published yet: keep the order the stage was given
            return prev if self.stacked else -np.arange(items.size, dtype=np.float64)
        own = served.score(self.keys(served, user_id, items), self.objectives)
        return own + (self.previous_weight * prev if self.stacked else 0.0)


def attach_online(pipeline: Any, reader: OnlineModelReader | None) -> Any:
    """Give every ``online-fm`` stage of a fitted ``pipeline`` the reader; returns the pipeline."""
    for st in getattr(pipeline, "stages_", ()):
        online = getattr(st.impl, "online", None)
        if isinstance(online, OnlineScorer):
            online.attach(reader, pipeline.items_)
    return pipeline
