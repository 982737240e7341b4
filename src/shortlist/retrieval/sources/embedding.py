"""EmbeddingSource: the user's factor vector searched against the item factors with an ANN index."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic
import scipy.sparse as sp

from shortlist.errors import ConfigError
from shortlist.retrieval.ann import ANNIndex
from shortlist.retrieval.sources.base import (
    SOURCES,
    CandidateSource,
    SourceConfig,
    SourceContext,
    unique_sorted,
)
from shortlist.retrieval.types import Request

__all__ = ["EmbeddingConfig", "EmbeddingSource"]


class EmbeddingConfig(SourceConfig):
    """Parameters of :class:`EmbeddingSource`."""

    model: str
    index: Literal["exact", "hnsw", "ivf", "pq"] = "exact"
    metric: Literal["ip", "cosine"] = "ip"
    index_params: dict[str, Any] = pydantic.Field(default_factory=dict)


@SOURCES.register("embedding")
class EmbeddingSource(CandidateSource):
    """Items whose factor vectors score highest with the user's vector: ``score_i = x_u . y_i``.

    Known users use ``model.user_factors_[u]`` (or the online vector the request carries); anonymous requests fold their history in
    (``model.fold_in_users``, each history item weighted 1). The ANN search over-fetches by
    the number of excluded items so ``k`` remain after filtering.
    """

    Config = EmbeddingConfig

    def _fit(self, context: SourceContext) -> None:
        from shortlist.models.factor import FactorModel

        model = context.model(self.model, source=self.source_name)
        if not isinstance(model, FactorModel):
            raise ConfigError(
                f"source {self.source_name!r}: model={self.model!r} is a {type(model).__name__}, "
                "not a factor model; use als, sgd-mf or another FactorModel")
        if model.item_factors_.shape[0] != self.n_items_:
            raise ConfigError(
                f"source {self.source_name!r}: model {self.model!r} has {model.item_factors_.shape[0]} "
                f"items but the interactions have {self.n_items_}; fit it on the same data")
        self.model_ = model
        try:
            self.ann_ = context.cached(self.source_name, "ann", lambda: ANNIndex(
                self.index, self.metric, **self.index_params).build(model.item_factors_))
        except TypeError as exc:
            raise ConfigError(f"source {self.source_name!r}: bad index_params {self.index_params!r} ({exc}); "
                              "valid keys: M, ef_construction, ef_search, nlist, nprobe, pq_m, refine, threads, seed") from None

    def user_vector(self, request: Request) -> np.ndarray | None:
        """The query vector of a request (``None`` when there is nothing to go on)."""
        u = request.user_index
        if 0 <= u < self.model_.user_factors_.shape[0]:
            online = request.vector_for(self.model_)
            return self.model_.user_factors_[u] if online is None else online
        hist = unique_sorted(np.asarray(request.history, np.int64).ravel())
        hist = hist[(hist >= 0) & (hist < self.n_items_)]
        if hist.size == 0:
            return None
        row = sp.csr_matrix((np.ones(hist.size, np.float32), hist, [0, hist.size]),
                            shape=(1, self.n_items_))
        return self.model_.fold_in_users(row)[0]

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vec = self.user_vector(request)
        if vec is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        fetch = min(k + excluded.size, self.n_items_)
        idx, val = self.ann_.search(vec, fetch)
        return idx[0], val[0]
