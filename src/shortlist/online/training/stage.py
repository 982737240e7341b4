"""The ``online-fm`` ranking stage: scores candidates with the FM that ``shortlist train-online`` publishes."""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.online.training.ranking import OnlineScorer
from shortlist.pipeline.stage_kinds import STAGES, StageKind
from shortlist.retrieval.types import Request

__all__ = ["OnlineFMStage"]


@STAGES.register("online-fm")
class OnlineFMStage(StageKind):
    """The FM ``shortlist train-online`` publishes, as serving holds it (docs/online.md); trained online only."""

    #: stacked: the FM's logit is added to the previous stage's standardised score
    boosts_from_previous = True
    reads_features = False

    @classmethod
    def params_class(cls) -> type:
        return OnlineScorer

    def build(self, params: dict[str, Any]) -> Any:
        self.online = OnlineScorer(**params)  # attached to the server's sync reader on load
        return None  # nothing learned offline, nothing saved with the pipeline

    @property
    def trainable(self) -> bool:
        return False

    def score(self, x: np.ndarray, request: Request, items: np.ndarray) -> np.ndarray:
        previous = x[:, -1] if self.online.stacked and x.shape[1] else None
        return self.online.score(request.user_id, items, previous)
