"""Calibration of a value model's heads: predicted probability against the held-out rate, in bins."""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.data.splits import Split

__all__ = ["calibration_bins", "value_model_calibration"]


def calibration_bins(prob: np.ndarray, label: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed rate, count) per equal-width probability bin that holds rows."""
    edges = np.minimum((np.clip(prob, 0, 1) * bins).astype(np.int64), bins - 1)
    count = np.bincount(edges, minlength=bins)
    pred = np.bincount(edges, weights=prob, minlength=bins)
    hits = np.bincount(edges, weights=label.astype(np.float64), minlength=bins)
    keep = count > 0
    return pred[keep] / count[keep], hits[keep] / count[keep], count[keep]


def value_model_calibration(pipeline: Any, users: np.ndarray, split: Split,
                            max_users: int = 300) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``"stage/head"`` -> calibration bins of every value-model stage, on the candidates of ``max_users`` users.

    The label is whether the candidate is among the user's held-out interactions (the heads'
    default target); heads trained on other event types are checked against that proxy.
    Stacked stages (which read the previous stage's score) are left out: their rows differ.
    """
    stages = [st for st in getattr(pipeline, "stages_", []) if st.kind == "value-model" and not st.stack]
    if not stages or split.fold_in is not None:
        return {}
    parts = {"sources": pipeline.sources_, "assembler": pipeline.assembler_, "dataset": pipeline.dataset_}
    probs: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    test = split.test.matrix
    for u in users[:max_users]:
        cands, x = pipeline.candidate_features(parts, int(u))
        if not len(cands):
            continue
        row = test.indices[test.indptr[u]:test.indptr[u + 1]]
        labels.append(np.isin(cands.items, row))
        for st in stages:
            for head, p in st.scorer.predict(x).items():
                probs.setdefault(f"{st.name}/{head}", []).append(np.asarray(p, np.float64))
    if not labels:
        return {}
    label = np.concatenate(labels)
    return {name: calibration_bins(np.concatenate(ps), label) for name, ps in probs.items()}
