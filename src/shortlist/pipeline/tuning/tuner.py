"""Self-tuning of a pipeline on validation folds of its training data, within a time budget.

:func:`tune_pipeline` treats the declared spec's models and sources as the search space:

1. plan: leave out what the data cannot run (:mod:`shortlist.pipeline.needs`), then skip
   the models whose estimated memory does not fit or whose one fit would take most of the
   budget (:mod:`shortlist.pipeline.resources`), each with a line that says why;
2. carve validation folds out of the training data it is given (per-user random holdout)
   - it is never shown anything else, so the outer test split is out of its reach;
3. on data whose cells carry ratings, counts or weights, choose how they weigh cells
   (unless the caller named a weighting);
4. tune each model's hyperparameters (Optuna TPE, the model's defaults tried first, median
   pruning on half of the validation users) within its share of the budget;
5. compute every validation user's candidates and features once, with the best models,
   and search the blend weights of the models' within-request z-scores; a model whose
   weight ends at zero leaves the pipeline with its source;
6. compare final stages (the linear blend alone, LambdaMART stacked on it) by 2-fold
   cross-validation over the validation users, and keep the better.

The result is a concrete spec (``[tuning] budget = 0``: it is already tuned), the trained
final stage, and a :class:`~shortlist.pipeline.tuning.report.TuningReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.data.dataset import Dataset
from shortlist.data.facts import DataFacts
from shortlist.data.splits import Split
from shortlist.errors import ConfigError
from shortlist.models.registry import create_model
from shortlist.pipeline.needs import Omission, plan_spec
from shortlist.pipeline.resources import available_memory_bytes, estimate_cost
from shortlist.pipeline.spec import PipelineSpec
from shortlist.pipeline.stages import Stage
from shortlist.pipeline.tuning.compose import (
    MIN_WEIGHT,
    blend_feature,
    blend_folds,
    blend_step,
    blend_terms_by_cv,
    candidate_spec,
    final_stage,
    reweigh_without,
    validation_rows,
)
from shortlist.pipeline.tuning.folds import Fold, make_folds, score_model
from shortlist.pipeline.tuning.report import ModelTuning, TuningReport
from shortlist.pipeline.tuning.search import MODEL_SHARE, tune_models

__all__ = ["TuningResult", "auto_budget", "fit_tuned", "tune_pipeline"]

#: a model is skipped when one fit is estimated to take more than this many times its share
_SKIP_FACTOR = 1.5


def auto_budget(n_cells: int, one_fit_each: float = 0.0) -> float:
    """The default budget in seconds: grows with the data, from 8 s to 10 min.

    5 s per 1,000 user-item cells, or three fits of every candidate model
    (``one_fit_each``: their estimated seconds for one fit each) when that is more, so that a
    catalog where one EASE fit takes a minute still gets each model tried. The rate gives each
    of the default's seven searched models about 30 s of search on 100,000 cells: a TPE search of ALS or
    the graph filter needs that many trials to settle (at 2 s per 1,000 cells they got 10-15
    complete trials, and settings a longer search beat on validation). The cap leaves the
    final fit and an evaluation room inside a 20-minute run on 1M interactions.
    """
    return float(np.clip(max(n_cells / 200.0, 3.0 * one_fit_each), 8.0, 600.0))


@dataclass
class TuningResult:
    """The tuned spec, what was left out, the trained final stages and the report."""

    spec: PipelineSpec
    omitted: list[Omission]
    report: TuningReport
    trained_stages: dict[str, Stage] = field(default_factory=dict)
    weighting: str | None = None


class _Tuner:
    """State of one tuning run (kept out of the public function to keep each step short)."""

    def __init__(self, pipeline: Any, dataset: Dataset, budget: float | None, progress: bool | None,
                 log: Callable[[str], None] | None, storage_dir: str | Path | None) -> None:
        self.pipeline, self.dataset = pipeline, dataset
        self.spec: PipelineSpec = pipeline.declared_spec
        self.ts = self.spec.tuning
        self.k, self.metric = self.spec.k, self.ts.metric
        budget = self.ts.budget_seconds if budget is None else (None if budget == "auto" else budget)
        #: an "auto" budget below its cap is sized to afford three fits of every model: none is
        #: then skipped for time (set by ``_auto_budget``)
        self.affords_every_fit = False
        self.budget = self._auto_budget() if budget is None else float(budget)
        self.progress, self.log = progress, log or (lambda line: None)
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        self.started = time.perf_counter()
        self.report = TuningReport(metric=f"{self.metric}@{self.k}", budget_seconds=self.budget, folds=self.ts.folds)

    def _auto_budget(self) -> float:
        data = self.dataset.interactions
        fits = [estimate_cost(ms.kind, ms.params, data) for ms in self.spec.models.values()]
        limit = self.memory_limit()
        one_fit_each = sum(c.seconds for c in fits if c.bytes <= limit)
        budget = auto_budget(data.nnz, one_fit_each)
        self.affords_every_fit = budget >= 3.0 * one_fit_each
        return budget

    def elapsed(self) -> float:
        """Seconds since tuning started (budgets are checked against it, except with fixed trials)."""
        return time.perf_counter() - self.started

    # -- step 3: weighting ---------------------------------------------------------------
    def weighting_options(self) -> list[str]:
        """Cell weightings to compare: none when the caller fixed one or every cell weighs 1.

        Ratings, play counts, event weights and repeated rows all give cells more than one
        value; which transform of them ranks best differs from one dataset to the next (raw
        play counts swamp a model, log counts often help, low ratings may be noise), so it is
        chosen on validation like any other setting.
        """
        info = self.dataset.info or {}
        if info.get("weighting", "auto") != "auto" or "values" not in info:
            return []  # a weighting given by name, or data that did not come through load_data
        summed = self.dataset.interactions.with_weighting("value").matrix.data
        if summed.size == 0 or np.all(summed == summed[0]):
            return []
        options = ["binary", "value", "log"]
        if info.get("values") == "ratings":
            # ratings at or above the median as the only positives (the cells below drop out)
            options.append(f"threshold:{float(np.median(self.dataset.interactions.value)):g}")
        return options

    def weighting_probe(self, models: dict[str, Any], options: list[str]) -> str | None:
        """The model that compares weightings: EASE, ALS or item-kNN, the first whose fits cost
        at most a tenth of the budget, else the cheapest planned model."""
        if not models:
            return None
        train = self.dataset.interactions
        seconds = {n: estimate_cost(ms.kind, ms.params, train).seconds for n, ms in models.items()}
        for kind in ("ease", "als", "item-knn"):  # by kind: a spec may name its models otherwise
            for name, ms in models.items():
                if ms.kind == kind and seconds[name] * len(options) <= 0.1 * self.budget:
                    return name
        return min(seconds, key=lambda n: seconds[n])

    def choose_weighting(self, folds: list[Fold], models: dict[str, Any]) -> str | None:
        options = self.weighting_options()
        probe = self.weighting_probe(models, options) if options else None
        if probe is None:
            return None
        kind, params = models[probe].kind, dict(models[probe].params)
        scores = {}
        for w in options:
            fold = folds[0]
            train = fold.split.train.with_weighting(w)
            model = create_model(kind, params).fit(train, progress=False)
            scores[w] = score_model(model, fold, fold.users, self.k, self.metric)
        chosen = max(scores, key=lambda w: scores[w])
        self.report.weighting = {"probe": probe, "scores": scores, "chosen": chosen}
        self.log(f"weighting: {chosen} (validation {self.metric}@{self.k} of {probe}: "
                 + ", ".join(f"{w} {s:.4f}" for w, s in scores.items()) + ")")
        for fold in folds:  # the held-out cells stay as they are: relevance does not depend on weighting
            fold.split = Split(fold.split.train.with_weighting(chosen), fold.split.test, fold.split.fold_in,
                               fold.split.protocol)
        return chosen

    # -- step 1b: resources --------------------------------------------------------------
    def memory_limit(self) -> float:
        """Bytes one model fit may use: ``[tuning] max_memory_gb``, else 70 % of the free memory."""
        return self.ts.max_memory_gb * 1e9 if self.ts.max_memory_gb else 0.7 * available_memory_bytes()

    def skips(self, models: dict[str, Any], train: Any) -> dict[str, str]:
        """Models that would not fit in memory, or whose one fit would take most of their budget share.

        The time rule applies to a given budget, and to an "auto" one held at its cap; below the
        cap, "auto" was sized to afford every model (one more cheap model in the spec must not
        push a costly one out).
        """
        limit = self.memory_limit()
        share = self.budget * MODEL_SHARE / max(1, len(models))
        out = {}
        for name, ms in models.items():
            cost = estimate_cost(ms.kind, ms.params, train)
            if cost.bytes > limit:
                out[name] = (f"needs {cost.describe()}; {limit / 1e9:.1f} GB may be used "
                             f"(set [tuning] max_memory_gb to change)")
            elif not self.affords_every_fit and cost.seconds > _SKIP_FACTOR * share and cost.seconds > 5:
                out[name] = f"needs {cost.describe()}, over its {share:.0f} s share of the tuning budget"
        return out


def _entrants(tuner: _Tuner, planned: PipelineSpec, folds: list[Fold], params: dict[str, dict[str, Any]],
              fitted: dict[str, list[Any]]) -> tuple[list[str], list[str], dict[str, float], Any]:
    """Steps 5-5b: blend weights, then which models enter; (all, chosen, weights, rows of the chosen)."""
    names, weights, rows = blend_step(tuner, planned, folds, params, fitted)
    dropped = blend_terms_by_cv(tuner, planned, rows, names, weights)
    if dropped:
        weights = reweigh_without(tuner, planned, rows, names, weights, dropped)
    chosen = [n for n in names if weights[n] >= MIN_WEIGHT]
    for n in names:
        if n not in chosen and n not in dropped:
            tuner.report.reasons.append(f"model {n!r} left out with its source: blend weight {weights[n]:.3f}")
    sourced = {s.model for s in planned.sources}
    if any(n in sourced for n in names if n not in chosen):  # the candidates change: rescore on the exact set
        rows = validation_rows(tuner, planned, folds, params, fitted, chosen, weights)
        vec = np.array([weights[n] for n in chosen])
        tuner.report.blend["score_final_sources"] = rows.metric(
            np.stack([rows.column(blend_feature(planned, n)) for n in chosen], -1) @ vec, tuner.k, tuner.metric)
    return names, chosen, weights, rows


def tune_pipeline(pipeline: Any, dataset: Dataset, *, budget: float | str | None = None,
                  progress: bool | None = None,
                  log: Callable[[str], None] | None = None,
                  storage_dir: str | Path | None = None) -> TuningResult:
    """Tune ``pipeline``'s declared spec on validation folds of ``dataset`` (its training data only).

    ``budget`` (seconds, or ``"auto"``: scaled to the data) overrides ``[tuning] budget``;
    None keeps the spec's. ``log`` receives one line per decision; ``storage_dir`` keeps the
    Optuna studies (a journal file) next to the report.
    """
    tuner = _Tuner(pipeline, dataset, budget, progress, log, storage_dir)
    facts = DataFacts.from_dataset(dataset)
    skips = tuner.skips(tuner.spec.models, dataset.interactions)
    planned, omitted = plan_spec(tuner.spec, facts, skip=skips)
    for o in omitted:
        tuner.log(o.line())
        if o.component == "model" and o.name in skips:
            tuner.report.models.append(ModelTuning(o.name, tuner.spec.models[o.name].kind, skipped=o.reason))
    tuner.report.left_out += [o.line() for o in omitted]
    folds = make_folds(dataset, tuner.spec)
    tuner.report.validation_users = int(folds[0].users.size)
    if folds[0].users.size < 2:
        raise ConfigError(f"too little data to tune on: {folds[0].users.size} validation user(s) have both "
                          "training and held-out items; use --budget 0 (no tuning) or give more data")
    weighting = tuner.choose_weighting(folds, dict(planned.models))
    params, fitted = tune_models(tuner, planned, folds, facts)
    folds = blend_folds(tuner, planned, folds, params, fitted)
    names, chosen, weights, rows = _entrants(tuner, planned, folds, params, fitted)
    blend_budget = candidate_spec(planned, params, chosen, weights).stages[0].budget
    stages, trained = final_stage(tuner, planned, rows, chosen, weights, blend_budget)
    spec = candidate_spec(planned, params, chosen, weights, stages)
    best = tuner.report.best_single
    tuner.report.chosen = {"models": {n: {"kind": spec.models[n].kind, "params": spec.models[n].params,
                                          "weight": weights[n]} for n in chosen},
                           "stages": [s.name for s in spec.stages], "weighting": weighting}
    if best is not None:
        tuner.report.reasons.append(f"best single model on its tuning fold: {best[0]} {best[1]:.4f}")
    singles = tuner.report.blend["trials"][: len(names)]  # each model alone, tried first on the same rows
    if singles:
        top = max(singles, key=lambda t: t["score"])
        alone = next(n for n in names if top["weights"][blend_feature(planned, n)] == 1.0)
        tuner.report.reasons.append(
            f"on the blend's validation rows: best model alone {alone} {top['score']:.4f}, the tuned blend "
            f"{tuner.report.blend['score']:.4f} ({tuner.report.blend['score'] / max(top['score'], 1e-12):.3f}x)")
    tuner.report.seconds = round(tuner.elapsed(), 1)
    if storage_dir is not None:
        tuner.report.save(storage_dir)
    return TuningResult(spec, omitted, tuner.report, trained, weighting)


def fit_tuned(pipeline: Any, dataset: Dataset, *, budget: float | str | None = None,
              progress: bool | None = None,
              log: Callable[[str], None] | None = None, storage_dir: str | Path | None = None) -> Any:
    """Fit ``pipeline`` on ``dataset``, tuning it there first when asked; returns the pipeline.

    Tuning runs when ``budget`` is > 0 or ``"auto"``, or when ``budget`` is None and the spec
    declares a ``[tuning]`` section whose budget is not 0. The tuned spec replaces the declared one
    (``pipeline.tuning_`` keeps the report); what the tuner left out stays in ``omitted_``.
    """
    declared = pipeline.declared_spec
    wanted = budget if budget is not None else (declared.tuning.budget_seconds
                                                if "tuning" in declared.model_fields_set else 0.0)
    if wanted == 0:
        pipeline.fit(dataset, progress=progress)
        for o in pipeline.omitted_:
            (log or (lambda line: None))(o.line())
        return pipeline
    result = tune_pipeline(pipeline, dataset, budget=budget, progress=progress, log=log, storage_dir=storage_dir)
    if result.weighting is not None:
        dataset = dataset.with_interactions(dataset.interactions.with_weighting(result.weighting))
    pipeline.declared_spec = result.spec
    pipeline.omitted_by_tuning = list(result.omitted)
    pipeline.tuning_ = result.report
    pipeline.fit(dataset, progress=progress, trained_stages=result.trained_stages)
    return pipeline
