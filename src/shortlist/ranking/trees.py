"""A LightGBM tree ensemble compiled to flat arrays and scored by a numba kernel.

``Booster.predict`` on the ~100 rows of one request costs ~0.5-0.8 ms, most of it walking
trees with a mispredicted branch at every level. The same trees scored QuickScorer-style
(``ranking/_kernels.py``) give identical scores about 4x faster. The arrays are read from
the booster's own text format, so the numbers are exactly those LightGBM reloads; models
the kernel does not cover (categorical splits, linear trees, more than 64 leaves, several
classes, averaged random-forest output, transformed objectives) keep LightGBM's predictor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.ranking._kernels import score_trees

__all__ = ["TreeEnsemble"]

#: Objectives whose prediction is the raw score (binary adds a sigmoid, handled below).
RAW_OBJECTIVES = ("lambdarank", "rank_xendcg", "regression", "regression_l2", "regression_l1",
                  "huber", "fair", "quantile", "mape")
#: ``missing_type`` code (bits 2-3 of ``decision_type``) of "zero means missing".
MISSING_ZERO = 1


class TreeEnsemble:
    """Flat arrays of a LightGBM model; :meth:`predict` equals ``Booster.predict``."""

    def __init__(self, arrays: dict[str, np.ndarray], n_features: int, sigmoid: float | None) -> None:
        self.arrays = arrays
        self.n_features = n_features
        self.sigmoid = sigmoid

    @classmethod
    def from_booster(cls, booster: Any, num_iteration: int | None = None) -> TreeEnsemble | None:
        """Compile a booster's first ``num_iteration`` trees; None when the model is not covered."""
        return cls.from_model_string(booster.model_to_string(num_iteration=num_iteration or -1))

    @classmethod
    def from_model_string(cls, text: str) -> TreeEnsemble | None:
        """Compile LightGBM's text model format; None when the model is not covered."""
        header, _, body = text.partition("\nTree=")
        head = _key_values(header.splitlines())
        if head.get("num_class", "1") != "1" or head.get("num_tree_per_iteration", "1") != "1" \
                or "average_output" in header.splitlines():
            return None
        objective = head.get("objective", "").split()
        sigmoid = None
        if objective and objective[0] == "binary":
            opts = dict(o.split(":", 1) for o in objective[1:] if ":" in o)
            sigmoid = float(opts.get("sigmoid", 1.0))
        elif objective and objective[0] not in RAW_OBJECTIVES:
            return None
        parts: dict[str, list] = {k: [] for k in ("feature", "threshold", "nan_left", "zero_default",
                                                   "default_left", "node_mask", "leaf_value")}
        tree_nodes, leaf_base = [0], []
        trees = body.split("\nend of trees")[0]
        for block in trees.split("\nTree=") if trees.strip() else []:
            tree = _key_values(block.splitlines()[1:])
            if tree.get("num_cat", "0") != "0" or tree.get("is_linear", "0") != "0" \
                    or int(tree["num_leaves"]) > 64:
                return None
            leaf_base.append(sum(map(len, parts["leaf_value"])))
            values = np.array(tree["leaf_value"].split(), np.float64)
            if values.size == 1:
                parts["leaf_value"].append(values)
                tree_nodes.append(tree_nodes[-1])
                continue
            _add_tree(tree, values, parts)
            tree_nodes.append(tree_nodes[-1] + len(parts["feature"][-1]))
        wide = max((len(v) for v in parts["leaf_value"]), default=1) > 32
        cat = (lambda key, dt: np.concatenate(parts[key]).astype(dt) if parts[key] else np.zeros(0, dt))
        arrays = {
            "tree_nodes": np.array(tree_nodes, np.int64), "leaf_base": np.array(leaf_base, np.int64),
            "feature": cat("feature", np.int64), "threshold": _round_down_f32(cat("threshold", np.float64)),
            "nan_left": cat("nan_left", np.bool_), "zero_default": cat("zero_default", np.bool_),
            "default_left": cat("default_left", np.bool_),
            "node_mask": cat("node_mask", np.uint64).astype(np.uint64 if wide else np.uint32),
            "leaf_value": cat("leaf_value", np.float64),
        }
        return cls(arrays, int(head.get("max_feature_idx", -1)) + 1, sigmoid)

    def raw_score(self, features: np.ndarray) -> np.ndarray:
        """Sum of leaf values per row (float64), LightGBM's raw score."""
        columns = np.ascontiguousarray(np.asarray(features, np.float32).T)
        a = self.arrays
        return score_trees(columns, a["tree_nodes"], a["leaf_base"], a["feature"], a["threshold"],
                           a["nan_left"], a["zero_default"], a["default_left"], a["node_mask"],
                           a["leaf_value"])

    def predict(self, features: np.ndarray) -> np.ndarray:
        """LightGBM's ``predict``: raw scores, or probabilities for a binary objective."""
        raw = self.raw_score(features)
        return raw if self.sigmoid is None else 1.0 / (1.0 + np.exp(-self.sigmoid * raw))


def _add_tree(tree: dict[str, str], values: np.ndarray, parts: dict[str, list]) -> None:
    """Append one tree's nodes (LightGBM order) and its leaves (left-to-right order)."""
    left = np.array(tree["left_child"].split(), np.int64)
    right = np.array(tree["right_child"].split(), np.int64)
    decision = np.array(tree["decision_type"].split(), np.int64)
    threshold = np.array(tree["threshold"].split(), np.float64)
    # leaves in left-to-right order, and for every node the leaves of its left subtree
    order: list[int] = []
    left_leaves: dict[int, list[int]] = {}

    def walk(child: int) -> list[int]:
        if child < 0:
            order.append(~child)
            return [~child]
        lo = walk(int(left[child]))
        left_leaves[child] = lo
        return lo + walk(int(right[child]))

    walk(0)
    position = {leaf: i for i, leaf in enumerate(order)}
    masks = []
    for node in range(left.size):
        clear = 0
        for leaf in left_leaves[node]:
            clear |= 1 << position[leaf]
        masks.append(~clear & 0xFFFFFFFFFFFFFFFF)
    missing = (decision >> 2) & 3
    default = ((decision >> 1) & 1).astype(np.bool_)
    parts["feature"].append(np.array(tree["split_feature"].split(), np.int64))
    parts["threshold"].append(threshold)
    # NaN takes the default side when missing values have one (NaN or Zero), else it is 0
    parts["nan_left"].append(np.where(missing == 0, threshold >= 0, default))
    parts["zero_default"].append(missing == MISSING_ZERO)
    parts["default_left"].append(default)
    parts["node_mask"].append(np.array(masks, np.uint64))
    parts["leaf_value"].append(values[order])


def _round_down_f32(threshold: np.ndarray) -> np.ndarray:
    """float32 thresholds t' with x <= t' exactly when x <= t, for every float32 x."""
    t32 = threshold.astype(np.float32)
    up = t32.astype(np.float64) > threshold
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def _key_values(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
