"""Arm features of the news bandit, computed per request: topic, the blend's score, the story's age."""

from __future__ import annotations

import numpy as np

__all__ = ["ARM_FEATURES", "arm_feature_names", "request_arm_features"]

#: what a story's arm feature vector can hold; ``bias`` (a constant 1) is always appended
ARM_FEATURES = ("topic", "stage_score", "age")


def arm_feature_names(names: list[str] | tuple[str, ...], n_topics: int) -> list[str]:
    """Column names of :func:`request_arm_features`, in order (for traces and explanations)."""
    out: list[str] = []
    for name in names:
        out += [f"topic={c}" for c in range(n_topics)] if name == "topic" else [name]
    return out + ["bias"]


def request_arm_features(names: list[str] | tuple[str, ...], items: np.ndarray, *, topic: np.ndarray,
                         n_topics: int, stage_scores: np.ndarray, publish: np.ndarray, now: float,
                         age_half_life_hours: float) -> np.ndarray:
    """Feature rows (len(items), q) of ``items`` in one request, columns as :func:`arm_feature_names`.

    ``topic``: one-hot of the story's topic. ``stage_score``: the score the previous stage gave the
    story in this request (it carries what the blend knows: the user's topics, recency).
    ``age``: ``2 ** (-age_hours / age_half_life_hours)``, 1 for a story published at ``now`` and
    halving every half-life, because a story's worth decays geometrically; stories from the
    future (clock skew) count as new.
    """
    items = np.asarray(items, np.int64)
    cols: list[np.ndarray] = []
    for name in names:
        if name == "topic":
            onehot = np.zeros((items.size, n_topics))
            onehot[np.arange(items.size), topic[items]] = 1.0
            cols.append(onehot)
        elif name == "stage_score":
            cols.append(np.asarray(stage_scores, np.float64).reshape(-1, 1))
        elif name == "age":
            age_h = np.maximum(now - publish[items], 0.0) / 3600.0
            cols.append(np.exp2(-age_h / age_half_life_hours).reshape(-1, 1))
        else:
            raise ValueError(f"unknown arm feature {name!r}; use one of {ARM_FEATURES}")
    cols.append(np.ones((items.size, 1)))
    return np.hstack(cols)
