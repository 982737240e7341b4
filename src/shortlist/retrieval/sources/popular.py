"""PopularSource and TrendingSource: most popular (or time-decayed) items, optionally per group."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic

from shortlist.data.facts import Need
from shortlist.errors import ConfigError, DataError
from shortlist.retrieval.sources.base import SOURCES, CandidateSource, SourceConfig, SourceContext
from shortlist.retrieval.types import Request

__all__ = ["PopularConfig", "PopularSource", "TrendingConfig", "TrendingSource"]

DAY = 86_400.0


class PopularConfig(SourceConfig):
    """Parameters of :class:`PopularSource`."""

    by: Literal["users", "events", "value"] = "users"
    half_life: float | None = pydantic.Field(default=None, gt=0)
    now: float | None = None
    item_group: str | None = None
    user_group: str | None = None


@SOURCES.register("popular")
class PopularSource(CandidateSource):
    """The items with the highest ``score_i = sum_e v_e * 0.5 ** ((now - t_e) / half_life)``.

    ``v_e`` is 1 per distinct user (``by="users"``; with ``half_life`` it counts events), 1 per event (``"events"``)
    or the event value (``"value"``); without ``half_life`` there is no decay. With
    ``user_group`` (a categorical user feature such as region) the sum runs over the events
    of users of the request's group (known user: their feature; else
    ``request.context[user_group]``); with ``item_group`` (a categorical item feature such
    as category) only items of ``request.context[item_group]`` qualify. Group lists that
    run short are completed by the global list (ranked after every group item).
    """

    Config = PopularConfig

    @classmethod
    def needs(cls, config: dict[str, Any]) -> list[Need]:
        """Timestamps for a decay, the group columns when grouped."""
        out = []
        if config.get("half_life", cls.Config.model_fields["half_life"].default) is not None:
            out.append(Need("timestamps"))
        if config.get("user_group"):
            out.append(Need("user_feature", config["user_group"]))
        if config.get("item_group"):
            out.append(Need("item_feature", config["item_group"]))
        return out

    # -- fitting -----------------------------------------------------------------------
    def _event_weights(self, context: SourceContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user, item, weight) per event - or per cell for ``by="users"``."""
        data = context.interactions
        if self.by == "users" and self.half_life is None:
            m = data.matrix.tocoo()
            return m.row.astype(np.int64), m.col.astype(np.int64), np.ones(m.nnz)
        w = data.value.astype(np.float64) if self.by == "value" else np.ones(data.n_events)
        if self.half_life is not None:
            if data.timestamp is None:
                raise DataError(
                    f"source {self.source_name!r}: half_life needs event timestamps; load the "
                    "interactions with a time column or drop half_life")
            now = float(data.timestamp.max()) if self.now is None else float(self.now)
            self.now_ = now
            age = np.maximum(now - data.timestamp.astype(np.float64), 0.0)
            w = w * np.power(0.5, age / float(self.half_life))
        return data.user_index.astype(np.int64), data.item_index.astype(np.int64), w

    def _codes(self, table, feature: str, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
        if table is None or feature not in table:
            raise ConfigError(
                f"source {self.source_name!r}: {what}_group={feature!r} needs a categorical {what} "
                f"feature of that name; the context has {table.names if table is not None else 'no'} "
                f"{what} features")
        return table.categorical(feature)

    def _fit(self, context: SourceContext) -> None:
        users, items, w = self._event_weights(context)
        n = self.n_items_
        self.item_codes_, self.item_cats_ = (None, ())
        self.user_codes_, self.user_cats_ = (None, ())
        if self.item_group:
            self.item_codes_, self.item_cats_ = self._codes(context.item_features, self.item_group, "item")
        if self.user_group:
            self.user_codes_, self.user_cats_ = self._codes(context.user_features, self.user_group, "user")
        global_scores = np.bincount(items, weights=w, minlength=n).astype(np.float32)
        self.scores_ = global_scores
        # lists[(user group, item group)] = best-first items with a positive score; -1 = any
        self.lists_: dict[tuple[int, int], np.ndarray] = {}
        self.group_scores_: dict[int, np.ndarray] = {-1: global_scores}
        groups = [-1] + (list(range(len(self.user_cats_))) if self.user_codes_ is not None else [])
        for g in groups:
            if g == -1:
                scores = global_scores
            else:
                sel = self.user_codes_[users] == g
                scores = np.bincount(items[sel], weights=w[sel], minlength=n).astype(np.float32)
                self.group_scores_[g] = scores
            ranked = np.lexsort((np.arange(n), -scores))
            ranked = ranked[scores[ranked] > 0]
            self.lists_[(g, -1)] = ranked
            if self.item_codes_ is not None:
                codes = self.item_codes_[ranked]
                order = np.argsort(codes, kind="stable")
                bounds = np.searchsorted(codes[order], np.arange(len(self.item_cats_) + 1))
                for c in range(len(self.item_cats_)):
                    self.lists_[(g, c)] = ranked[order[bounds[c]:bounds[c + 1]]]

    # -- requests ----------------------------------------------------------------------
    def _group(self, request: Request) -> tuple[int, int]:
        g = c = -1
        if self.user_codes_ is not None:
            u = request.user_index
            if 0 <= u < self.user_codes_.shape[0] and self.user_codes_[u] >= 0:
                g = int(self.user_codes_[u])
            elif self.user_group in request.context:
                g = _label_code(self.user_cats_, request.context[self.user_group])
        if self.item_codes_ is not None and self.item_group in request.context:
            c = _label_code(self.item_cats_, request.context[self.item_group])
            if c < 0:  # an unknown category has no items
                return g, -2
        return g, c

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, c = self._group(request)
        if c == -2:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        want = k + excluded.size
        head = self.lists_.get((g, c), np.zeros(0, np.int64))[:want]
        scores = self.group_scores_[g][head]
        if g != -1 and head.size < want:
            fill = self.lists_[(-1, c)][: want + head.size]
            fill = fill[~np.isin(fill, head)][: want - head.size]
            # completed items rank after all group items, in global order
            floor = float(scores.min()) if scores.size else 1.0
            top = float(self.scores_[fill].max()) if fill.size else 1.0
            fill_scores = floor * self.scores_[fill] / (top * 1.0001 + 1e-12)
            head = np.concatenate((head, fill))
            scores = np.concatenate((scores, fill_scores.astype(np.float32)))
        return head, scores


def _label_code(categories: tuple[str, ...], label: object) -> int:
    try:
        return categories.index(str(label))
    except ValueError:
        return -1


class TrendingConfig(PopularConfig):
    """Parameters of :class:`TrendingSource`."""

    by: Literal["users", "events", "value"] = "events"
    half_life: float | None = pydantic.Field(default=7 * DAY, gt=0)


@SOURCES.register("trending")
class TrendingSource(PopularSource):
    """Time-decayed popularity: a :class:`PopularSource` with ``by="events"`` and a one-week half-life.

    ``now`` defaults to the newest training timestamp (the same rule as the ``trending``
    model, so both rank items alike).
    """

    Config = TrendingConfig

