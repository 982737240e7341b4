"""RuleSource: rule-based candidate sets - new arrivals and editorial lists."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic

from shortlist.errors import ConfigError, UnknownIdError
from shortlist.retrieval.sources.base import SOURCES, CandidateSource, SourceConfig, SourceContext
from shortlist.retrieval.types import Request

__all__ = ["RuleConfig", "RuleSource"]


class RuleConfig(SourceConfig):
    """Parameters of :class:`RuleSource`."""

    rule: Literal["new", "editorial"]
    time_feature: str = "publish_time"
    window: float = pydantic.Field(default=30 * 86_400.0, gt=0)
    items: list[Any] = pydantic.Field(default_factory=list)


@SOURCES.register("rule")
class RuleSource(CandidateSource):
    """A candidate set defined by a rule instead of a model.

    ``rule="new"``: items whose numeric item feature ``time_feature`` (epoch seconds) lies in
    ``[now - window, now]``, newest first, ``score = 1 - age / window``; ``now`` is
    ``request.now`` or, when absent, the newest value of the feature. ``rule="editorial"``:
    the external item ids in ``items``, in the given order, ``score = len(items) - position``.
    """

    Config = RuleConfig

    @property
    def source_name(self) -> str:
        return self.name or f"rule-{self.rule}"

    def _fit(self, context: SourceContext) -> None:
        if self.rule == "editorial":
            if not self.items:
                raise ConfigError(f"source {self.source_name!r}: rule='editorial' needs items=[...] (item ids)")
            vocab = context.interactions.items
            idx = vocab.index(np.asarray(self.items), missing="ignore")
            if (idx < 0).any():
                bad = [self.items[i] for i in np.flatnonzero(idx < 0)[:5]]
                raise UnknownIdError(
                    f"source {self.source_name!r}: editorial items {bad} are not in the catalog; "
                    "remove them or add them to the data", bad)
            _, first = np.unique(idx, return_index=True)
            self.order_ = idx[np.sort(first)].astype(np.int64)
            self.scores_ = np.zeros(self.n_items_, np.float32)
            self.scores_[self.order_] = np.arange(self.order_.size, 0, -1, dtype=np.float32)
            return
        table = context.item_features
        if table is None or self.time_feature not in table or table.kinds[self.time_feature] != "numeric":
            have = table.names if table is not None else []
            raise ConfigError(
                f"source {self.source_name!r}: rule='new' needs a numeric item feature "
                f"time_feature={self.time_feature!r}; the item features are {have}")
        t = np.asarray(table.numeric(self.time_feature), np.float64)
        if t.shape[0] != self.n_items_:
            raise ConfigError(f"source {self.source_name!r}: {t.shape[0]} feature rows for {self.n_items_} items")
        known = np.flatnonzero(np.isfinite(t))
        # ascending by time, so a window is one searchsorted slice
        order = known[np.lexsort((-known, t[known]))]
        self.times_sorted_ = t[order]
        self.order_ = order.astype(np.int64)
        self.default_now_ = float(self.times_sorted_[-1]) if order.size else 0.0

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        want = k + excluded.size
        if self.rule == "editorial":
            head = self.order_[:want]
            return head, self.scores_[head]
        now = request.now if request.now is not None else self.default_now_
        lo = np.searchsorted(self.times_sorted_, float(now) - float(self.window), side="left")
        hi = np.searchsorted(self.times_sorted_, float(now), side="right")
        start = max(lo, hi - want)
        head = self.order_[start:hi][::-1]
        age = float(now) - self.times_sorted_[start:hi][::-1]
        return head, (1.0 - age / float(self.window)).astype(np.float32)
