"""Value model: several predicted objectives combined with weights into one score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from shortlist.errors import ConfigError, DataError, NotFittedError
from shortlist.ranking.gbdt import LambdaMARTRanker

__all__ = ["ValueModel"]


class ValueModel:
    """``value = sum_o weight_o * P(objective_o | features)``.

    One gradient-boosted binary classifier per objective (e.g. click, long watch, like,
    hide); negative weights penalise objectives such as hide. Probabilities keep the
    objectives on one scale, so weights read as "how much is a like worth vs a click".
    """

    def __init__(self, *, objectives: Mapping[str, float], n_estimators: int = 200,
                 learning_rate: float = 0.05, num_leaves: int = 31, seed: int = 0) -> None:
        if not objectives:
            raise ConfigError("a value model needs at least one objective, e.g. objectives={click=1.0}")
        self.objectives = dict(objectives)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.seed = seed

    def fit(self, features: np.ndarray, labels: Mapping[str, np.ndarray],
            feature_names: Sequence[str]) -> "ValueModel":
        """Train one classifier per objective; ``labels[name]`` is 0/1 per row."""
        missing = set(self.objectives) - set(labels)
        if missing:
            raise DataError(f"value model: no labels for objectives {sorted(missing)}; "
                            f"labels were given for {sorted(labels)}")
        self.models_: dict[str, LambdaMARTRanker] = {}
        self.constant_: dict[str, float] = {}
        for name in self.objectives:
            y = (np.asarray(labels[name]) > 0).astype(np.float32)
            if y.min() == y.max():  # degenerate objective: predict its constant rate
                self.constant_[name] = float(y[0]) if y.size else 0.0
                continue
            clf = LambdaMARTRanker(objective="binary", n_estimators=self.n_estimators,
                                   learning_rate=self.learning_rate, num_leaves=self.num_leaves, seed=self.seed)
            self.models_[name] = clf.fit(features, y, np.asarray([len(y)]), feature_names=feature_names)
        return self

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Predicted probability per objective."""
        if not hasattr(self, "models_"):
            raise NotFittedError("value model is not trained; call fit(...) first")
        n = np.asarray(features).shape[0]
        out = {name: m.score(features) for name, m in self.models_.items()}
        out.update({name: np.full(n, c, np.float32) for name, c in self.constant_.items()})
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        """Weighted sum of objective probabilities."""
        preds = self.predict(features)
        n = np.asarray(features).shape[0]
        total = np.zeros(n, np.float32)
        for name, w in self.objectives.items():
            total += np.float32(w) * preds[name]
        return total

    def save(self, folder: str | Path) -> None:
        """One LightGBM text file per objective."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, m in self.models_.items():
            m.save(folder / f"objective-{name}.txt")

    def load_models(self, folder: str | Path, constants: Mapping[str, float]) -> "ValueModel":
        """Restore classifiers saved by :meth:`save` (constants come from the pipeline's JSON)."""
        folder = Path(folder)
        self.constant_ = dict(constants)
        self.models_ = {name: LambdaMARTRanker.load(folder / f"objective-{name}.txt", objective="binary")
                        for name in self.objectives if name not in self.constant_}
        return self
