"""Neighbourhood sources: items similar to recent history, items of similar users."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic
import scipy.sparse as sp

from shortlist.retrieval._kernels import sum_neighbours
from shortlist.retrieval.sources.base import (
    SOURCES,
    CandidateSource,
    RecentItems,
    SourceConfig,
    SourceContext,
    aggregate,
    gather_rows,
    request_recent,
    unique_sorted,
)
from shortlist.retrieval.sources.neighbors import cooccurrence_block, neighbour_table
from shortlist.retrieval.types import Request

__all__ = ["ItemToItemConfig", "ItemToItemSource", "SimilarUsersConfig", "SimilarUsersSource"]


class ItemToItemConfig(SourceConfig):
    """Parameters of :class:`ItemToItemSource`."""

    model: str | None = None
    n_recent: int = pydantic.Field(default=20, gt=0)
    n_neighbors: int = pydantic.Field(default=100, gt=0)
    recency_decay: float = pydantic.Field(default=0.9, gt=0, le=1)
    index: Literal["exact", "hnsw", "ivf", "pq"] = "exact"
    index_params: dict[str, Any] = pydantic.Field(default_factory=dict)


@SOURCES.register("item-to-item")
class ItemToItemSource(CandidateSource):
    """Neighbours of the user's newest items: ``score_j = sum_p decay^p * sim(h_p, j)``.

    ``h_0, h_1, ...`` are the ``n_recent`` newest distinct items (the request's history,
    newest last, then the stored training history, newest first by timestamp), ``p`` their
    position. ``sim`` comes from a top-``n_neighbors`` table built from ``model`` (item-kNN
    similarity, factor cosine, any model's item similarity) or item co-occurrence cosine.
    """

    Config = ItemToItemConfig

    def _fit(self, context: SourceContext) -> None:
        model = context.model(self.model, source=self.source_name)
        table = lambda: neighbour_table(model, self.seen_, "item", self.n_neighbors,
                                        index=self.index, index_params=self.index_params)
        self.neighbor_ids_, self.neighbor_sims_ = context.cached(self.source_name, "neighbours", table)
        self.recent_ = RecentItems(context.interactions, self.n_recent)

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        recent = request_recent(request, self.recent_, self.n_recent)
        recent = recent[(recent >= 0) & (recent < self.n_items_)]
        if recent.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        w = float(self.recency_decay) ** np.arange(recent.size)
        return sum_neighbours(np.asarray(recent, np.int64), w, self.neighbor_ids_, self.neighbor_sims_)


class SimilarUsersConfig(SourceConfig):
    """Parameters of :class:`SimilarUsersSource`."""

    model: str | None = None
    n_neighbors: int = pydantic.Field(default=50, gt=0)
    use_weights: bool = False
    index: Literal["exact", "hnsw", "ivf", "pq"] = "exact"
    index_params: dict[str, Any] = pydantic.Field(default_factory=dict)


@SOURCES.register("similar-users")
class SimilarUsersSource(CandidateSource):
    """Items of the nearest users: ``score_i = sum_v sim(u, v) * x_vi``.

    ``x_vi`` is 1 for an item of neighbour ``v`` (its cell weight with ``use_weights``).
    Known users take a top-``n_neighbors`` table built from ``model`` (user-kNN similarity,
    user-factor cosine) or co-occurrence cosine; anonymous requests get neighbours by the
    cosine of their history against every training user (or their folded-in vector
    against the user factors for a factor model).
    """

    Config = SimilarUsersConfig

    def _fit(self, context: SourceContext) -> None:
        from shortlist.models.factor import FactorModel
        from shortlist.retrieval.ann import ANNIndex

        model = context.model(self.model, source=self.source_name)
        table = lambda: neighbour_table(model, self.seen_, "user", self.n_neighbors,
                                        index=self.index, index_params=self.index_params)
        self.neighbor_ids_, self.neighbor_sims_ = context.cached(self.source_name, "neighbours", table)
        binary = sp.csr_matrix(self.seen_, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        self._binary_t = binary.T.tocsr()  # items x users: a history row selects its users
        self._norms = np.sqrt(np.diff(binary.indptr).astype(np.float32))
        self._factor_model = model if isinstance(model, FactorModel) else None
        self._user_ann = None
        if self._factor_model is not None:
            self._user_ann = context.cached(self.source_name, "user_ann", lambda: ANNIndex(
                self.index, "cosine", **self.index_params).build(model.user_factors_))

    def neighbours(self, request: Request) -> tuple[np.ndarray, np.ndarray]:
        """(user indices, similarities) of the request's nearest training users."""
        u = request.user_index
        if 0 <= u < self.neighbor_ids_.shape[0]:
            ids, sims = self.neighbor_ids_[u], self.neighbor_sims_[u]
            return ids[ids >= 0], sims[ids >= 0]
        hist = unique_sorted(np.asarray(request.history, np.int64).ravel())
        hist = hist[(hist >= 0) & (hist < self.n_items_)]
        if hist.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        row = sp.csr_matrix((np.ones(hist.size, np.float32), hist, [0, hist.size]), shape=(1, self.n_items_))
        if self._factor_model is not None:
            vec = self._factor_model.fold_in_users(row)
            ids, sims = self._user_ann.search(vec, self.n_neighbors)
            ids, sims = ids[0], sims[0]
        else:
            sim = cooccurrence_block(row, self._binary_t, self._norms)[0]
            kk = min(self.n_neighbors, sim.size)
            ids = np.argpartition(-sim, kk - 1)[:kk]
            sims = sim[ids]
        ok = (ids >= 0) & (sims > 0)
        return ids[ok], sims[ok]

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids, sims = self.neighbours(request)
        m = self.seen_
        items, w = gather_rows(m.indptr, m.indices, m.data if self.use_weights else None, ids, sims)
        return aggregate(items, w)
