"""Pipeline: candidate sources -> merge -> ranking stages with budgets -> rules -> response.

The same object is evaluated offline (it exposes ``recommend_indices`` like a model) and
served over HTTP. Every response can carry a :class:`~shortlist.pipeline.trace.Trace`.
Request building (ids -> indices, exclusions) lives in ``pipeline/requests.py``, the saved
folder in ``pipeline/persistence.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.persistence import Part, write_part
from shortlist.data.dataset import Dataset
from shortlist.data.facts import DataFacts
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, NotFittedError
from shortlist.models.base import Recommender, check_k
from shortlist.models.registry import create_model
from shortlist.pipeline.components import Exclusions, build_rules, build_sources, merge, run_sources
from shortlist.pipeline.needs import Omission, plan_spec
from shortlist.pipeline.persistence import PIPELINE_FILE, load_pipeline, pipeline_part
from shortlist.pipeline.requests import context_indices, exclusions, known_items
from shortlist.pipeline.resources import memory_skips
from shortlist.pipeline.spec import PipelineSpec, load_spec, parse_spec
from shortlist.pipeline.stages import Stage, build_stage
from shortlist.pipeline.trace import StageTrace, Trace
from shortlist.pipeline.training import fit_on_label_folds
from shortlist.ranking.features import FeatureAssembler
from shortlist.retrieval.sources.store import SourceStore
from shortlist.retrieval.types import Request

__all__ = ["PIPELINE_FILE", "Pipeline", "Response", "UPTO"]

UPTO = ("candidates", "ranking", "rules")


@dataclass
class Response:
    """Items for one request, best first, with scores and the stage-by-stage trace."""

    item_indices: np.ndarray
    item_ids: list[Any]
    scores: np.ndarray
    trace: Trace = field(default_factory=Trace)
    #: probability the pipeline had of showing each item at its position (set when an
    #: exploration rule ran; None means every position was deterministic)
    propensities: np.ndarray | None = None
    #: "popular" when a user with no signal at all was padded with popular items
    fallback: str | None = None

    def to_dict(self, pipeline: "Pipeline", explain: bool = False) -> dict[str, Any]:
        items = [{"item_id": i, "score": float(s)} for i, s in zip(self.item_ids, self.scores)]
        if self.propensities is not None:
            for entry, p in zip(items, self.propensities):
                entry["propensity"] = float(p)
        out: dict[str, Any] = {"items": items}
        if self.fallback is not None:
            out["fallback"] = self.fallback
        if explain:
            out["trace"] = self.trace.to_dict(pipeline.items_)
            if self.trace.omitted:
                out["left_out"] = list(self.trace.omitted)
        return out


def _as_dataset(data: Dataset | Interactions) -> Dataset:
    return data if isinstance(data, Dataset) else Dataset(name="data", interactions=data)


class Pipeline:
    """A multi-stage recommender declared by a :class:`PipelineSpec` (TOML)."""

    name = "pipeline"
    #: fits one model in place of ``model.fit`` - ``(model, interactions, progress) -> model``;
    #: set by ``shortlist.distributed.on_ray`` so that the pipeline needs no import of Ray
    model_fitter: Any = None

    def __init__(self, spec: PipelineSpec | dict[str, Any]) -> None:
        self.spec = spec if isinstance(spec, PipelineSpec) else parse_spec(spec)
        #: the spec as written; ``spec`` becomes the part of it that the data can run at fit
        self.declared_spec = self.spec
        #: components left out at fit because the data lacks what they need
        self.omitted_: list[Omission] = []
        #: left out before fitting by the tuner (models over the time budget), kept in ``omitted_``
        self.omitted_by_tuning: list[Omission] = []

    @classmethod
    def from_toml(cls, path: str | Path) -> "Pipeline":
        """Build from a TOML spec file."""
        return cls(load_spec(path))

    def get_params(self) -> dict[str, Any]:
        return {"spec": self.spec.name}

    # -- building blocks ---------------------------------------------------------------
    def fit_models(self, dataset: Dataset, progress: bool | None) -> dict[str, Recommender]:
        """Every model of the spec, fitted on ``dataset``."""
        if self.spec.cluster.engine != "local" and self.model_fitter is None:
            raise ConfigError(f"[cluster] engine = {self.spec.cluster.engine!r} fits on a cluster: use "
                              "shortlist.distributed.on_ray(pipeline) around fit, or `shortlist train --ray ADDRESS`")
        models = {}
        for name, ms in self.spec.models.items():
            model = create_model(ms.kind, ms.params)
            models[name] = (self.model_fitter(model, dataset.interactions, progress) if self.model_fitter
                            else model.fit(dataset.interactions, progress=progress))
        return models

    def _assemble(self, dataset: Dataset, models: dict[str, Recommender]) -> FeatureAssembler:
        fs = self.spec.features
        return FeatureAssembler(
            sources=[s.name for s in self.spec.sources],
            scorers={n: models[n] for n in fs.scorers},
            item_features=dataset.item_features if (fs.bag_columns or fs.group_columns or fs.numeric_columns
                                                    or fs.publish_time_column) else None,
            bag_columns=fs.bag_columns, group_columns=fs.group_columns,
            numeric_columns=fs.numeric_columns, publish_time_column=fs.publish_time_column,
            user_item_counts=fs.user_item_counts, engaged_age=fs.engaged_age,
        ).fit(dataset.interactions)

    def build_parts(self, dataset: Dataset, models: dict[str, Recommender],
                    store: SourceStore | None = None) -> dict[str, Any]:
        """Sources and feature assembler over fitted ``models`` (``store``: saved neighbour tables)."""
        store = store if store is not None else SourceStore()
        return {
            "dataset": dataset,
            "models": models,
            "sources": build_sources(self.spec, dataset, models, store),
            "assembler": self._assemble(dataset, models),
            "store": store,
        }

    # -- fitting -----------------------------------------------------------------------
    def fit(self, data: Dataset | Interactions, *, progress: bool | None = None,
            trained_stages: dict[str, Stage] | None = None) -> "Pipeline":
        """Fit models, sources and ranking stages (rankers on a leakage-free label split).

        ``trained_stages`` (by stage name) are used as they are, already trained (the tuner
        trains its final stage on validation rows): no label folds are fitted for them.
        """
        dataset = _as_dataset(data)
        if getattr(self, "_features_from", None) is not None and isinstance(data, Interactions):
            dataset = self._features_from.with_interactions(data)
        self.plan(dataset)
        tr = self.spec.training
        given = dict(trained_stages or {})
        self.stages_ = [given.get(s.name) or build_stage(s, {}) for s in self.spec.stages]
        for st in self.stages_:
            st.pretrained = st.name in given
        if any(s.trainable and not s.pretrained for s in self.stages_):
            parts = fit_on_label_folds(self, dataset, progress)
        if tr.refit_on_full or not any(s.trainable and not s.pretrained for s in self.stages_):
            models = self.fit_models(dataset, progress)
            parts = self.build_parts(dataset, models)
        self._install(parts, dataset)
        return self

    def plan(self, data: Dataset | Interactions) -> list[Omission]:
        """Keep the part of the declared spec that ``data`` can run; return what was left out.

        Runs before anything is fitted, so a missing column stops a ``required`` component at
        once instead of after minutes of fitting (see :mod:`shortlist.pipeline.needs`).
        """
        dataset = _as_dataset(data)
        skips = memory_skips(self.declared_spec.models, dataset.interactions)
        self.spec, omitted = plan_spec(self.declared_spec, DataFacts.from_dataset(dataset), skip=skips)
        self.omitted_ = [*self.omitted_by_tuning, *omitted]
        return self.omitted_

    @property
    def _omitted_lines(self) -> tuple[str, ...]:
        """The left-out lines every trace carries, formatted once per fit or load, not per request."""
        key = tuple(self.omitted_)
        if getattr(self, "_omitted_cache", (None,))[0] != key:
            self._omitted_cache = (key, tuple(o.line() for o in key))
        return self._omitted_cache[1]

    def _install(self, parts: dict[str, Any], dataset: Dataset) -> None:
        # seen items and ids always come from the full training data, even when the
        # sources were fitted on its base part only (refit_on_full = false)
        self.dataset_ = dataset
        self.models_ = parts["models"]
        self.sources_ = parts["sources"]
        self.source_store_ = parts["store"]
        self.assembler_ = parts["assembler"]
        self.rules_ = build_rules(self.spec, self.dataset_)
        self.users_ = self.dataset_.interactions.users
        self.items_ = self.dataset_.interactions.items
        self.train_ = self.dataset_.interactions.matrix
        for st in self.stages_:
            if st.impl.needs_model:
                st.model = self.models_[st.spec.model]
            elif st.kind == "linear" and not st.trainable and not hasattr(st.scorer, "coef_"):
                st.scorer.fix(self.assembler_.feature_names)

    def candidate_features(self, parts: dict[str, Any], user: int) -> tuple[Any, np.ndarray]:
        """(merged candidates, their feature rows) for known user ``user`` with ``parts``' components.

        The same path as serving up to the first ranking stage; rankers and the tuner learn
        from it, so what they see is what a request sees.
        """
        req = Request(user_index=int(user), k=self.spec.k)
        cands = merge(self.spec, run_sources(parts["sources"], req, self._exclusions(req, parts)))
        x = parts["assembler"].transform(req, cands) if len(cands) else np.zeros((0, 0), np.float32)
        return cands, x

    # -- serving -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "sources_"):
            raise NotFittedError("the pipeline is not fitted; call .fit(dataset) or Pipeline.load(path) first")

    def _exclusions(self, req: Request, parts: dict[str, Any] | None = None) -> Exclusions:
        """The request's exclusion sets, computed once for all sources (see :class:`Exclusions`)."""
        train = (parts["dataset"].interactions.matrix if parts else self.train_)
        return exclusions(train, req)

    def make_request(self, user_id: Any = None, *, k: int | None = None, history: Any = (),
                     context: dict[str, Any] | None = None, exclude: Any = (),
                     user_vectors: dict[str, np.ndarray] | None = None) -> Request:
        """Build a request from external ids; unknown users become anonymous (history + context).

        Item ids in ``history``, ``exclude`` and the rules' ``context`` keys are translated here;
        ids outside the catalog are dropped. ``user_vectors`` (model name -> vector, from the
        online state) stand in for those models' learned rows of this user in this request only.
        """
        self._check_fitted()
        k = check_k(k if k is not None else self.spec.k)
        uidx = -1
        if user_id is not None:
            found = self.users_.index([user_id], missing="ignore")[0]
            uidx = int(found)
        hist, ex = known_items(self.items_, history), known_items(self.items_, exclude)
        request = Request(user_index=uidx, user_id=user_id, k=k, history=hist,
                          context=context_indices(self.rules_, self.items_, dict(context or {})), exclude=ex)
        return self.with_user_vectors(request, user_vectors)

    def with_user_vectors(self, request: Request, user_vectors: dict[str, np.ndarray] | None) -> Request:
        """``request`` carrying ``user_vectors`` (model name -> vector) in place of those models' learned rows."""
        vectors = {id(self.models_[n]): v for n, v in (user_vectors or {}).items() if n in self.models_}
        request.user_vectors = vectors or None
        return request

    def recommend(self, request: Request | Any, k: int | None = None, *, upto: str = "rules") -> Response:
        """Run the pipeline for one request (or a user id)."""
        self._check_fitted()
        if not isinstance(request, Request):
            request = self.make_request(request, k=k)
        elif k is not None:
            request.k = check_k(k)
        if upto not in UPTO:
            raise ConfigError(f"upto={upto!r}; use one of {UPTO}")
        trace = Trace(omitted=self._omitted_lines)
        t0 = time.perf_counter()
        request = replace(request, exclusions=self._exclusions(request))  # once, for every component
        results = run_sources(self.sources_, request)
        cands = merge(self.spec, results)
        t1 = time.perf_counter()
        trace.add(StageTrace("candidates", "sources", sum(len(r) for r in results), len(cands), (t1 - t0) * 1e3,
                             cands.items, cands.scores, extra={"per_source": {r_name: len(r) for r_name, r in
                                                                 zip([s.name for s in self.spec.sources], results)}}))
        if upto != "candidates" and self.stages_ and len(cands):
            cands = self._rank(request, cands, trace)
        else:
            cands = cands.sorted()
        if upto == "rules":
            for rule in self.rules_:
                t0, n_in, n_drops = time.perf_counter(), len(cands), len(cands.drops)
                cands = rule(request, cands)
                trace.add(StageTrace(rule.name, "rule", n_in, len(cands), (time.perf_counter() - t0) * 1e3,
                                     drops=cands.drops[n_drops:]))
        cands = cands.take(np.arange(min(request.k, len(cands))))
        items, scores, fallback = cands.items, cands.scores, None
        if upto == "rules" and len(items) < request.k and not request.known_user and len(request.history) == 0:
            items, scores = self._pad_with_popular(request, items, scores)
            fallback = "popular"
            trace.add(StageTrace("fallback", "popular", len(cands), len(items), 0.0, items, scores))
        ids = [x.item() if hasattr(x, "item") else x for x in self.items_.lookup(items)]
        return Response(items, ids, scores, trace, cands.features.get("propensity"), fallback)

    def _rank(self, request: Request, cands: Any, trace: Trace) -> Any:
        """The ranking stages in turn, each ``stage(request, candidates)`` on the feature rows."""
        t0 = time.perf_counter()
        cands.rows = self.assembler_.transform(request, cands)
        trace.add(StageTrace("features", "assemble", len(cands), len(cands), (time.perf_counter() - t0) * 1e3,
                             extra={"n_features": cands.rows.shape[1]}))
        for st in self.stages_:
            t0, n_in = time.perf_counter(), len(cands)
            cands = st(request, cands)
            trace.add(StageTrace(st.name, st.kind, n_in, len(cands), (time.perf_counter() - t0) * 1e3,
                                 cands.items, cands.scores))
        return cands

    def _pad_with_popular(self, request: Request, items: np.ndarray,
                          scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A user with no signal at all: fill up to ``k`` with the most popular unexcluded items.

        Pads score below every real recommendation, so padding never outranks one.
        """
        if not hasattr(self, "popular_order_"):
            counts = np.bincount(self.train_.indices, minlength=len(self.items_))
            self.popular_order_ = np.argsort(-counts, kind="stable")
        taken = np.concatenate([items, np.asarray(request.exclude, np.int64)])
        need = request.k - len(items)
        order = self.popular_order_[: need + taken.size]
        extra = order[~np.isin(order, taken)][:need]
        floor = float(scores.min()) if len(scores) else 0.0
        pad = (floor - 1.0 - np.arange(extra.size)).astype(np.float32)
        return np.concatenate([items, extra]).astype(np.int64), np.concatenate([scores, pad]).astype(np.float32)

    # -- offline evaluation adapter ----------------------------------------------------
    def recommend_indices(self, user_idx: np.ndarray, k: int, *, exclude_seen: bool = True,
                          upto: str = "rules", **_: Any) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for many known users (the evaluation runner's interface)."""
        out_i = np.full((len(user_idx), k), -1, np.int64)
        out_s = np.full((len(user_idx), k), -np.inf, np.float32)
        for r, u in enumerate(np.asarray(user_idx)):
            resp = self.recommend(Request(user_index=int(u), k=k), upto=upto)
            out_i[r, : len(resp.item_indices)] = resp.item_indices
            out_s[r, : len(resp.scores)] = resp.scores
        return out_i, out_s

    def recommend_from_history(self, history: sp.csr_matrix, k: int, *, exclude_seen: bool = True,
                               upto: str = "rules") -> tuple[np.ndarray, np.ndarray]:
        """Top-k for users known only by history rows (strong generalization)."""
        history = sp.csr_matrix(history)
        out_i = np.full((history.shape[0], k), -1, np.int64)
        out_s = np.full((history.shape[0], k), -np.inf, np.float32)
        for r in range(history.shape[0]):
            h = history.indices[history.indptr[r]:history.indptr[r + 1]].astype(np.int64)
            resp = self.recommend(Request(user_index=-1, k=k, history=h), upto=upto)
            out_i[r, : len(resp.item_indices)] = resp.item_indices
            out_s[r, : len(resp.scores)] = resp.scores
        return out_i, out_s

    # -- persistence -------------------------------------------------------------------
    def to_part(self, previous: str | Path | None = None) -> Part:
        """The fitted pipeline as one tree of parts: data, models, sources, stages (and tuning).

        ``previous`` is the folder being replaced: an Optuna journal the tuner left in its
        ``tuning/`` is kept in the new tree.
        """
        self._check_fitted()
        return pipeline_part(self, previous)

    def save(self, folder: str | Path) -> Path:
        """Write the pipeline to ``folder`` (``pipeline.json`` + one folder per part; atomic, checksummed)."""
        return write_part(folder, self.to_part(previous=folder), manifest=PIPELINE_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> "Pipeline":
        """Load a pipeline written by :meth:`save` (verified, no refitting, no pickle)."""
        return load_pipeline(cls, folder)
