"""Training the ranking stages without leakage: label folds, typed training rows, stage by stage.

Each label fold fits the models on a base part of the training data and takes labels from
the rest, so a ranker never learns from scores of models that saw its labels. The rows are
the candidates a request would get (the serving path up to the first stage); each stage
then trains on what the previous stages keep, cut and scored exactly as at serving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from shortlist.data.dataset import Dataset
from shortlist.data.interactions import Interactions
from shortlist.data.splits import random_holdout, temporal_split
from shortlist.errors import ConfigError
from shortlist.pipeline.spec import TrainingSpec
from shortlist.pipeline.stages import Stage
from shortlist.retrieval._kernels import best_first
from shortlist.retrieval.types import Candidates, Request

__all__ = ["TrainingRow", "fit_on_label_folds", "fit_stages", "label_matrices", "training_rows"]


@dataclass
class TrainingRow:
    """One label user's candidates: their features, labels per event type, and the previous scores."""

    items: np.ndarray
    features: np.ndarray
    labels: dict[str, np.ndarray]
    user: int
    #: the previous stage's scores of these candidates (None before the first stage)
    previous: np.ndarray | None = None


def label_matrices(label: Interactions) -> dict[str, sp.csr_matrix]:
    """``relevant`` (every held-out cell) plus one matrix per event type, when there are types."""
    out = {"relevant": label.matrix}
    if label.event_type is not None:
        for code, name in enumerate(label.event_types):
            out[name] = label.subset(label.event_type == code).matrix
    return out


def training_rows(pipeline: Any, parts: dict[str, Any], label: Interactions,
                  progress: bool | None) -> list[TrainingRow]:
    """One row per label user with a relevant item among its candidates (a seeded sample)."""
    tr = pipeline.spec.training
    rng = np.random.default_rng(tr.seed)
    label_m = label.matrix
    users = np.flatnonzero(np.diff(label_m.indptr) > 0)
    base_counts = np.diff(parts["dataset"].interactions.matrix.indptr)
    users = users[base_counts[users] > 0]
    if users.size > tr.max_users:
        users = np.sort(rng.choice(users, tr.max_users, replace=False))
    label_sets = label_matrices(label)
    rows: list[TrainingRow] = []
    for u in tqdm(users, desc="ranker training data", disable=None if progress is None else not progress):
        cands, x = pipeline.candidate_features(parts, int(u))
        if len(cands) == 0:
            continue
        labs = {name: np.isin(cands.items, m.indices[m.indptr[u]:m.indptr[u + 1]]) for name, m in label_sets.items()}
        if labs["relevant"].any():
            rows.append(TrainingRow(cands.items, x, labs, int(u)))
    return rows


def fit_on_label_folds(pipeline: Any, dataset: Dataset, progress: bool | None) -> dict[str, Any]:
    """Train the pipeline's stages on its label folds; return the last fold's fitted parts."""
    tr = pipeline.spec.training
    inter = dataset.interactions
    rows: list[TrainingRow] = []
    parts: dict[str, Any] = {}
    for fold in range(tr.folds):
        # each fold: models on a base part, labels from the rest (a different cut per fold)
        if tr.label_split == "temporal":
            split = temporal_split(inter, 1.0 - tr.label_fraction)
        else:
            split = random_holdout(inter, tr.label_fraction, seed=tr.seed + fold)
        base = dataset.with_interactions(split.train)
        parts = pipeline.build_parts(base, pipeline.fit_models(base, progress))
        rows += training_rows(pipeline, parts, split.test, progress)
    if not rows:
        raise ConfigError("no training user had a relevant item among the candidates; raise source quotas")
    fit_stages(pipeline.stages_, rows, parts["assembler"].feature_names, tr)
    return parts


def fit_stages(stages: list[Stage], rows: list[TrainingRow], names: list[str], training: TrainingSpec) -> None:
    """Train each stage on the candidates the previous stages keep; validation users held apart."""
    rng = np.random.default_rng(training.seed)
    all_users = np.unique([r.user for r in rows])
    n_valid = int(all_users.size * training.valid_fraction)
    valid_users = set(rng.choice(all_users, n_valid, replace=False).tolist()) if n_valid else set()
    rows = [replace(r, previous=None) for r in rows]
    for st in stages:
        if st.trainable and not st.pretrained:
            valid = _stacked(st, [r for r in rows if r.user in valid_users])
            st.fit(*_stacked(st, [r for r in rows if r.user not in valid_users], empty_ok=True),
                   feature_names=st.feature_names(names), valid=valid)
        elif st.kind == "linear" and not hasattr(st.scorer, "coef_"):
            st.scorer.fix(st.feature_names(names))
        # the next stage trains on what this one keeps, cut and scored exactly as at serving
        scored, kept = [], []
        for r in rows:
            previous = np.zeros(len(r.items), np.float32) if r.previous is None else r.previous
            s = st.scores(Request(user_index=r.user), Candidates(r.items, previous, rows=r.features))
            top = best_first(s, np.asarray(r.items, np.int64), st.budget)
            sub = {k: v[top] for k, v in r.labels.items()}
            scored.append(replace(r, previous=s))
            if sub["relevant"].any():
                kept.append(TrainingRow(r.items[top], r.features[top], sub, r.user, s[top]))
        rows = kept or scored


def _stacked(stage: Stage, rows: list[TrainingRow], *, empty_ok: bool = False) -> Any:
    """(features, labels, group sizes) of ``rows`` as ``stage`` reads them; None when there are none."""
    if not rows:
        return (np.zeros((0, 0), np.float32), {"relevant": np.zeros(0)}, np.zeros(0, np.int64)) if empty_ok else None
    x = np.concatenate([stage.inputs(r.features, r.previous) for r in rows])
    labels = {k: np.concatenate([r.labels[k] for r in rows]).astype(np.float32) for k in rows[0].labels}
    groups = np.asarray([len(r.items) for r in rows], np.int64)
    return x, labels, groups
