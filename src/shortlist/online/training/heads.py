"""Value-model heads online: one label per action type, running metrics per head, the served value.

With ``heads = {"click": 1.0, "like": 2.0, "hide": -3.0}`` the trainer's DeepFM gets one output
head per action (they share the rows and the MLP). Head *h* learns ``P(action h | impression)``
from the action bits each joined example carries; serving ranks by the value model's
``sum_h weight_h * P(h)`` (:func:`shortlist.ranking.value_model.weighted_value`, the batch value
model's combination). The name ``label`` is a head on the joiner's own label.

A head sees every action in the label window (and the late ones within ``correction_s``): the
trainer turns on the joiner's ``update_actions``, so an action that adds a bit to an emitted
example (a like after a click) takes that example back (its emitted bits, weight -1) and emits
it again with the new bit. Each row's bits are therefore the bits to train on, take-backs
included. (Set ``joiner.update_actions = false`` and only label changes re-emit: a take-back then
carries the bits before the action that flipped the label, and later actions reach no head.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shortlist.errors import ConfigError
from shortlist.online.training.joiner import JoinerConfig
from shortlist.ranking.value_model import weighted_value

__all__ = ["LABEL", "check_heads", "head_labels", "head_metrics", "served_value"]

#: the head trained on the joiner's label (positive action and no negative one)
LABEL = "label"


def check_heads(heads: Mapping[str, float], model: str, joiner: JoinerConfig) -> None:
    """Heads need the DeepFM and name an action the joiner labels (or ``label``)."""
    if not heads:
        return
    if model != "deepfm":
        raise ConfigError(f"heads={dict(heads)} need model = 'deepfm' (got model={model!r}); set model to "
                          "'deepfm' or drop heads")
    bad = sorted(set(heads) - set(joiner.actions) - {LABEL})
    if bad:
        raise ConfigError(f"heads: {bad} are not actions the joiner labels; use some of "
                          f"{sorted(joiner.actions) + [LABEL]} (joiner.actions)")


def head_labels(actions: np.ndarray, labels: np.ndarray, joiner: JoinerConfig,
                heads: tuple[str, ...] | list[str]) -> np.ndarray:
    """0/1 labels (n x heads) of joined examples: bit ``joiner.actions[h]`` set, the joiner's label for ``label``."""
    bits = np.asarray(actions, np.int64)
    cols = [np.asarray(labels) > 0 if h == LABEL else (bits & joiner.actions[h]) > 0 for h in heads]
    return np.stack(cols, axis=1).astype(np.float64)


def head_metrics(pred: np.ndarray, y: np.ndarray, heads: tuple[str, ...] | list[str],
                 auc: Callable[[np.ndarray, np.ndarray], float]) -> dict[str, dict[str, float]]:
    """Log-loss and ``auc`` (the trainer's, passed in: it imports this module) per head of predictions (n x heads)."""
    p = np.clip(pred, 1e-12, 1 - 1e-12)
    out = {}
    for k, name in enumerate(heads):
        loss = float(-np.mean(y[:, k] * np.log(p[:, k]) + (1 - y[:, k]) * np.log(1 - p[:, k])))
        out[name] = {"logloss": loss, "auc": auc(p[:, k], y[:, k])}
    return out


def served_value(probs: np.ndarray, heads: list[str], objectives: Mapping[str, Any]) -> np.ndarray:
    """The value model's score of head probabilities (n x heads): ``sum_h objectives[h] * P(h)``."""
    missing = sorted(set(objectives) - set(heads))
    if missing:
        raise ConfigError(f"online value model: objectives {missing} have no head in the served version "
                          f"(heads {heads}); train them (trainer heads) or drop them from objectives")
    preds = {h: probs[:, k].astype(np.float32) for k, h in enumerate(heads)}
    return weighted_value({h: float(w) for h, w in objectives.items()}, preds, probs.shape[0]).astype(np.float64)
