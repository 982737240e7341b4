"""Value model: several predicted objectives combined with weights into one score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from shortlist.core.parameters import Finite, Positive, UnitOpen, params_model, validate_params
from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ConfigError, DataError, NotFittedError
from shortlist.ranking.deepfm import deepfm_ranker_class
from shortlist.ranking.gbdt import LambdaMARTRanker

__all__ = ["ValueModel", "weighted_value"]


def weighted_value(objectives: Mapping[str, float], predictions: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """``sum_o weight_o * P(o)`` over the objectives (one shared combination, batch and online value models)."""
    total = np.zeros(n, np.float32)
    for name, w in objectives.items():
        total += np.float32(w) * predictions[name]
    return total


class ValueModel:
    """``value = sum_o weight_o * P(objective_o | features)``.

    One binary head per objective (e.g. click, long watch, like, hide): a gradient-boosted
    classifier (``learner="lightgbm"``) or a DeepFM over the candidate rows trained with log
    loss (``learner="deepfm"``, parameters in ``deepfm``; needs the ``neural`` extra).
    Negative weights penalise objectives such as hide. Probabilities keep the objectives on
    one scale, so weights read as "how much is a like worth vs a click".
    """

    def __init__(self, *, objectives: Annotated[Mapping[str, Finite[float]], Field(min_length=1)],
                 n_estimators: Positive[int] = 200, learning_rate: UnitOpen[float] = 0.05,
                 num_leaves: Positive[int] = 31, seed: int = 0, learner: Literal["lightgbm", "deepfm"] = "lightgbm",
                 deepfm: Mapping[str, Any] | None = None) -> None:
        validate_params("value model", params_model(ValueModel), {
            "objectives": objectives, "n_estimators": n_estimators, "learning_rate": learning_rate,
            "num_leaves": num_leaves, "seed": seed, "learner": learner, "deepfm": deepfm})
        if deepfm and learner != "deepfm":  # a relation between two parameters, not a range
            raise ConfigError("value model: deepfm parameters were given but learner is "
                              f"{learner!r}; set learner = 'deepfm' or drop them")
        self.objectives = dict(objectives)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.seed = seed
        self.learner = learner
        self.deepfm = dict(deepfm or {})

    def _head(self) -> Any:
        """An untrained binary classifier of the chosen learner."""
        if self.learner == "deepfm":
            params = {"seed": self.seed, **self.deepfm, "loss": "bce"}
            return deepfm_ranker_class()(**params)
        return LambdaMARTRanker(objective="binary", n_estimators=self.n_estimators,
                                learning_rate=self.learning_rate, num_leaves=self.num_leaves, seed=self.seed)

    def _probability(self, head: Any, features: np.ndarray) -> np.ndarray:
        raw = head.score(features)
        if self.learner == "deepfm":  # DeepFM scores are logits
            return (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32)
        return raw

    def fit(self, features: np.ndarray, labels: Mapping[str, np.ndarray],
            feature_names: Sequence[str]) -> "ValueModel":
        """Train one classifier per objective; ``labels[name]`` is 0/1 per row."""
        missing = set(self.objectives) - set(labels)
        if missing:
            raise DataError(f"value model: no labels for objectives {sorted(missing)}; "
                            f"labels were given for {sorted(labels)}")
        self.models_: dict[str, Any] = {}
        self.constant_: dict[str, float] = {}
        for name in self.objectives:
            y = (np.asarray(labels[name]) > 0).astype(np.float32)
            if y.min() == y.max():  # degenerate objective: predict its constant rate
                self.constant_[name] = float(y[0]) if y.size else 0.0
                continue
            self.models_[name] = self._head().fit(features, y, np.asarray([len(y)]), feature_names=feature_names)
        return self

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Predicted probability per objective."""
        if not hasattr(self, "models_"):
            raise NotFittedError("value model is not trained; call fit(...) first")
        n = np.asarray(features).shape[0]
        out = {name: self._probability(m, features) for name, m in self.models_.items()}
        out.update({name: np.full(n, c, np.float32) for name, c in self.constant_.items()})
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        """Weighted sum of objective probabilities."""
        return weighted_value(self.objectives, self.predict(features), np.asarray(features).shape[0])

    def to_part(self) -> Part:
        """The trained heads as one saved part: one sub-part per objective, constants in meta."""
        if not hasattr(self, "models_"):
            raise NotFittedError("value model is not trained; call fit(...) first")
        return Part({"learner": self.learner, "constants": self.constant_},
                    parts={f"objective-{name}": m.to_part() for name, m in self.models_.items()})

    def save(self, folder: str | Path) -> Path:
        """Write folder ``folder`` through the model-folder writer (atomic, checksummed, no pickle)."""
        return write_part(folder, self.to_part())

    def load_models(self, folder: str | Path, constants: Mapping[str, float] | None = None) -> "ValueModel":
        """Restore the heads saved by :meth:`save` (``constants`` override the saved ones)."""
        return self._restore(read_part(folder), constants)

    @classmethod
    def from_part(cls, part: Part, **params: Any) -> "ValueModel":
        """Rebuild a value model from the part written by :meth:`to_part` (``params``: its constructor's)."""
        return cls(**params)._restore(part, None)

    def _restore(self, part: Part, constants: Mapping[str, float] | None) -> "ValueModel":
        self.constant_ = dict(part.meta.get("constants", {}) if constants is None else constants)
        load = (deepfm_ranker_class().from_part if self.learner == "deepfm"
                else lambda p: LambdaMARTRanker.from_part(p, objective="binary"))
        self.models_ = {name: load(part.part(f"objective-{name}", "value model"))
                        for name in self.objectives if name not in self.constant_}
        return self
