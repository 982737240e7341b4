"""What serves the simulated requests: popularity, any pipeline, a bandit over its candidates, rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shortlist.bandits.context_free import UCB1, ThompsonBeta
from shortlist.bandits.linear import LinUCB, LinUCBHybrid
from shortlist.bandits.slates import RowsCascade
from shortlist.data.dataset import Dataset
from shortlist.pipeline.pipeline import Pipeline
from shortlist.pipeline.rows import recommend_rows
from shortlist.pipeline.usecases.arm_features import arm_feature_names, request_arm_features
from shortlist.pipeline.usecases.memory import EngagedAge, OnlineHistory
from shortlist.pipeline.usecases.spec import BanditSpec, RowsSpec, UseCaseSpec
from shortlist.retrieval.types import Request

__all__ = ["BanditPolicy", "PipelinePolicy", "PopularityPolicy", "RowsPolicy", "Served", "rows_from_ranking"]


@dataclass
class Served:
    """What one request showed: rows of item indices (one row for a flat list), top first."""

    rows: list[np.ndarray]
    row_ids: list[Any] = field(default_factory=list)


def rows_from_ranking(ranked: np.ndarray, category: np.ndarray, order: list[int], per_row: int) -> list[np.ndarray]:
    """One row per category in ``order``, each the ranking restricted to that category."""
    cats = category[ranked]
    return [ranked[cats == c][:per_row] for c in order]


class UserProfiles:
    """Each user's category mix (training history plus online clicks) with a bias term: bandit contexts."""

    def __init__(self, dataset: Dataset) -> None:
        self.category = dataset.item_features.categorical("category")[0].astype(np.int64)
        n_cat = int(self.category.max()) + 1
        m = dataset.interactions.matrix.tocoo()
        self.counts = np.zeros((m.shape[0], n_cat))
        np.add.at(self.counts, (m.row, self.category[m.col]), 1.0)

    def context(self, user: int) -> np.ndarray:
        c = self.counts[user]
        return np.concatenate([c / max(c.sum(), 1.0), [1.0]])

    def clicked(self, user: int, items: np.ndarray) -> None:
        np.add.at(self.counts[user], self.category[items], 1.0)


class PopularityPolicy:
    """The most consumed training items (distinct users), minus what the user already had."""

    def __init__(self, dataset: Dataset, *, rows: RowsSpec | None = None) -> None:
        m = dataset.interactions.matrix
        self.seen = m.tocsr()
        counts = np.diff(m.tocsc().indptr)
        self.ranked = np.lexsort((np.arange(counts.size), -counts))
        self.ranked = self.ranked[counts[self.ranked] > 0]
        self.rows, self.category = rows, UserProfiles(dataset).category
        self.row_order = list(np.argsort(-np.bincount(self.category[self.ranked[:200]], minlength=1)))

    def serve(self, user: int, k: int, context: dict, exclude: np.ndarray) -> Served:
        blocked = np.concatenate([self.seen.indices[self.seen.indptr[user]:self.seen.indptr[user + 1]], exclude])
        ranked = self.ranked[~np.isin(self.ranked, blocked)]
        if self.rows is None:
            return Served([ranked[:k]])
        order = self.row_order[: self.rows.n_rows]
        return Served(rows_from_ranking(ranked, self.category, order, self.rows.per_row), order)

    def feedback(self, user: int, served: Served, clicks: list[np.ndarray]) -> None:
        pass


class PipelinePolicy:
    """Any fitted pipeline; with ``rows``, its ranking fills category rows in a fixed popular order.

    With a ``usecase`` whose context names ``history`` / ``freshness``, the app remembers each user's
    online plays / engaged age and adds them to every request.
    """

    def __init__(self, pipeline: Pipeline, *, rows: RowsSpec | None = None, dataset: Dataset | None = None,
                 usecase: UseCaseSpec | None = None) -> None:
        self.pipeline, self.rows = pipeline, rows
        if rows is not None and dataset is not None:
            pop = PopularityPolicy(dataset)
            self.category, self.row_order = pop.category, pop.row_order
        wants = set(usecase.context) if usecase is not None else set()
        self.online = OnlineHistory() if "history" in wants else None
        self.engaged = None
        if "freshness" in wants and dataset is not None:
            publish = dataset.item_features.numeric("publish_time")
            self.engaged = EngagedAge(dataset, publish, prior_events=usecase.freshness_prior_events)
        self._now = 0.0

    def request(self, user: int, k: int, context: dict, exclude: np.ndarray) -> Request:
        self._now = float(context.get("now", 0.0))
        ctx, hist, times = dict(context), np.zeros(0, np.int64), None
        if self.online is not None:
            hist, times = self.online.of(user)
        if self.engaged is not None:
            ctx["freshness_half_life_days"] = self.engaged.half_life_days(user)
        return Request(user_index=user, k=k, context=ctx, exclude=np.asarray(exclude, np.int64), history=hist,
                       history_times=times)

    def remember(self, user: int, clicked: np.ndarray) -> None:
        """Record what the user clicked at the last request's time."""
        if self.online is not None:
            self.online.add(user, clicked, self._now)
        if self.engaged is not None:
            self.engaged.clicked(user, clicked, self._now)

    def serve(self, user: int, k: int, context: dict, exclude: np.ndarray) -> Served:
        if self.rows is None:
            return Served([self.pipeline.recommend(self.request(user, k, context, exclude)).item_indices])
        budget = self.pipeline.spec.stages[-1].budget if self.pipeline.spec.stages else 100
        ranked = self.pipeline.recommend(self.request(user, budget, context, exclude), upto="ranking").item_indices
        order = self.row_order[: self.rows.n_rows]
        return Served(rows_from_ranking(ranked, self.category, order, self.rows.per_row), order)

    def feedback(self, user: int, served: Served, clicks: list[np.ndarray]) -> None:
        for items, c in zip(served.rows, clicks):
            c = np.asarray(c, bool)  # the traffic may cut a long row to its examined width
            self.remember(user, np.asarray(items, np.int64)[: c.size][c])


class BanditPolicy(PipelinePolicy):
    """Hybrid LinUCB over the pipeline's candidates: arms are items, updated per event.

    Each story's arm features are computed per request (``spec.arm_features``: its topic, the
    blend's score for it in this request, its age at the request's ``now``), so the shared
    ``beta`` learns what the blend's order and freshness are worth and each story's own
    ``theta_a`` its burst. With ``spec.slots``, the blend's top ``k - slots`` stay in place and
    the bandit fills the positions under them from the rest of the pool.
    """

    def __init__(self, pipeline: Pipeline, spec: BanditSpec, dataset: Dataset, publish: np.ndarray,
                 seed: int = 0) -> None:
        super().__init__(pipeline)
        self.spec, self.publish, self.profiles = spec, publish, UserProfiles(dataset)
        self.n_cat = int(self.profiles.category.max()) + 1
        self.bandit = LinUCBHybrid(alpha=spec.alpha, seed=seed)
        self.feature_names = arm_feature_names(spec.arm_features, self.n_cat)
        self.known: set[int] = set()
        self._shown: dict[int, np.ndarray] = {}  # item -> its features in the last request that showed it

    def _arm_features(self, items: np.ndarray, scores: np.ndarray, now: float) -> np.ndarray:
        return request_arm_features(self.spec.arm_features, items, topic=self.profiles.category, n_topics=self.n_cat,
                                    stage_scores=scores, publish=self.publish, now=now,
                                    age_half_life_hours=self.spec.age_half_life_hours)

    def _refresh_arms(self, items: np.ndarray, feats: np.ndarray, now: float) -> None:
        fresh = np.asarray([i not in self.known for i in items.tolist()], bool)
        if fresh.any():
            self.bandit.add_arms(items[fresh], features=feats[fresh])
            self.known.update(items[fresh].tolist())
        arms = np.asarray(sorted(self.known), np.int64)
        old = arms[(now - self.publish[arms]) > self.spec.max_age_hours * 3600.0]
        if old.size:  # expired stories leave the bandit, which keeps its state small
            self.bandit.remove_arms(old)
            self.known.difference_update(old.tolist())
            for i in old.tolist():
                self._shown.pop(i, None)

    def explain(self, item: int) -> dict[str, float]:
        """The features the bandit last saw for ``item`` (name -> value), as it scored it."""
        return dict(zip(self.feature_names, self._shown[int(item)].tolist()))

    def serve(self, user: int, k: int, context: dict, exclude: np.ndarray) -> Served:
        resp = self.pipeline.recommend(self.request(user, self.spec.pool, context, exclude))
        pool, now = resp.item_indices, float(context["now"])
        if pool.size <= k:
            return Served([pool])
        feats = self._arm_features(pool, np.asarray(resp.scores, np.float64), now)
        self._refresh_arms(pool, feats, now)
        live = np.isin(pool, np.fromiter(self.known, np.int64))
        fixed = pool[: k - self.spec.slots] if self.spec.slots is not None else pool[:0]
        live[: fixed.size] = False  # the blend's head stays; the bandit chooses among the rest
        n_pick = min(k - fixed.size, int(live.sum()))
        if n_pick == 0:
            return Served([pool[:k]])
        x = self.profiles.context(user)[None, :]
        picked = self.bandit.select(x, pool[live], n_pick, arm_features=feats[live]).actions[0]
        self._shown.update(zip(pool.tolist(), feats))
        return Served([np.concatenate([fixed, np.asarray(picked, np.int64)])])

    def feedback(self, user: int, served: Served, clicks: list[np.ndarray]) -> None:
        items, c = served.rows[0], clicks[0]
        live = np.isin(items, np.fromiter(self.known, np.int64)) & np.asarray([int(i) in self._shown for i in items])
        if live.any():
            x = np.repeat(self.profiles.context(user)[None, :], int(live.sum()), axis=0)
            feats = np.stack([self._shown[int(i)] for i in items[live]])
            self.bandit.update(x, items[live], c[live].astype(np.float64), arm_features=feats)
        self.profiles.clicked(user, items[c])


_ROW_POLICIES = {"linucb": lambda s: LinUCB(alpha=s.alpha), "ts-beta": lambda s: ThompsonBeta(),
                 "ucb1": lambda s: UCB1()}


class RowsPolicy(PipelinePolicy):
    """A bandit orders category rows (cascade feedback); each row is the pipeline's ranking in that category."""

    def __init__(self, pipeline: Pipeline, spec: RowsSpec, dataset: Dataset, seed: int = 0) -> None:
        super().__init__(pipeline)
        self.spec, self.profiles = spec, UserProfiles(dataset)
        cat = self.profiles.category
        self.row_items = {int(c): np.flatnonzero(cat == c) for c in np.unique(cat)}
        self.cascade = RowsCascade(_ROW_POLICIES[spec.policy](spec), n_seen=spec.n_seen)
        self.cascade.policy.add_arms(list(self.row_items))
        self.pages: list[list[int]] = []  # the row order of every page served: what the bandit learned

    def allocation(self) -> dict[str, Any]:
        """How often each row came first, in the first and the last third of the pages."""
        first = np.asarray([p[0] for p in self.pages if p], np.int64)
        third = max(first.size // 3, 1)
        share = {part: {int(c): round(float(n) / max(x.size, 1), 3) for c, n in zip(*np.unique(x, return_counts=True))}
                 for part, x in (("early", first[:third]), ("late", first[-third:]))}
        return {"top_row_share": share, "pages": int(first.size)}

    def serve(self, user: int, k: int, context: dict, exclude: np.ndarray) -> Served:
        x = self.profiles.context(user) if self.cascade.policy.uses_context else None
        page = recommend_rows(self.pipeline, self.request(user, k, context, exclude), self.row_items, self.cascade,
                              context=x, n_rows=self.spec.n_rows, per_row=self.spec.per_row)
        rows = [self.pipeline.items_.index(np.asarray(page.items[r])) if page.items[r] else np.zeros(0, np.int64)
                for r in page.rows]
        self.pages.append([int(r) for r in page.rows])
        return Served([np.asarray(r, np.int64) for r in rows], list(page.rows))

    def feedback(self, user: int, served: Served, clicks: list[np.ndarray]) -> None:
        x = self.profiles.context(user) if self.cascade.policy.uses_context else None
        hit = np.asarray([[float(c.any()) for c in clicks]])
        self.cascade.update(x, np.asarray([served.row_ids]), hit)
        for items, c in zip(served.rows, clicks):
            self.profiles.clicked(user, items[c])
