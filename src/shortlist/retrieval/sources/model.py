"""ModelSource: the top items of any fitted Recommender (EASE, kNN, SGD MF, ...)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.errors import ConfigError
from shortlist.retrieval.sources.base import SOURCES, CandidateSource, SourceConfig, SourceContext
from shortlist.retrieval.types import Request

__all__ = ["ModelConfig", "ModelSource"]


class ModelConfig(SourceConfig):
    """Parameters of :class:`ModelSource`."""

    model: str


@SOURCES.register("model")
class ModelSource(CandidateSource):
    """Score every item with a model and keep the best ``quota``.

    Known users are scored with ``score_indices``; users known only by their request
    history through the model's history scoring (fold-in for factor models). Exact, so it
    suits catalogs up to ~10^5 items; for factor models on larger catalogs prefer the
    ANN-backed ``embedding`` source.
    """

    Config = ModelConfig

    def _fit(self, context: SourceContext) -> None:
        self.model_ = context.model(self.model, source=self.source_name)
        if len(self.model_.items_) != self.n_items_:
            raise ConfigError(f"source {self.source_name!r}: model {self.model!r} knows "
                              f"{len(self.model_.items_)} items, the data has {self.n_items_}")

    def _generate(self, request: Request, k: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = self.model_
        if request.known_user and request.user_index < len(model.users_) and not len(request.history):
            scores = model.score_indices(np.array([request.user_index]))[0]
        else:
            hist = np.asarray(request.history, np.int64)
            if request.known_user and request.user_index < self.seen_.shape[0]:
                row = self.seen_[request.user_index]
                hist = np.union1d(row.indices.astype(np.int64), hist)
            if hist.size == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            rows = sp.csr_matrix((np.ones(hist.size, np.float32), (np.zeros(hist.size, np.int64), hist)),
                                 shape=(1, self.n_items_))
            try:
                scores = np.asarray(model._score_history(rows), np.float32)[0]
            except NotImplementedError:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[excluded] = -np.inf
        n = min(k, scores.size)
        top = np.argpartition(-scores, n - 1)[:n] if n < scores.size else np.arange(scores.size)
        return top.astype(np.int64), scores[top]
