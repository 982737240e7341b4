"""ModelSource: the top items of any fitted Recommender (EASE, kNN, SGD MF, ...)."""

from __future__ import annotations

import numpy as np

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

    Requests are scored with the model's ``score_request`` (known users by their learned
    row, others by their history: fold-in for factor models). Exact, so it
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
        try:
            scores = self.model_.score_request(request, seen=self.seen_)
        except NotImplementedError:  # a model that scores training users only
            scores = None
        if scores is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[excluded] = -np.inf
        n = min(k, scores.size)
        top = np.argpartition(-scores, n - 1)[:n] if n < scores.size else np.arange(scores.size)
        return top.astype(np.int64), scores[top]
