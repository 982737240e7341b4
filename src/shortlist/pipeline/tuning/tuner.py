"""Self-tuning of a pipeline on validation folds of its training data, within a time budget.

:func:`tune_pipeline` treats the declared spec's models and sources as the search space:

1. plan: leave out what the data cannot run (:mod:`shortlist.pipeline.needs`), then skip
   the models whose estimated memory does not fit or whose one fit would take most of the
   budget (:mod:`shortlist.pipeline.resources`), each with a line that says why;
2. carve validation folds out of the training data it is given (per-user random holdout)
   - it is never shown anything else, so the outer test split is out of its reach;
3. with ``weighting = "auto"`` data, choose how ratings or counts weigh cells;
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

from shortlist.core.metrics import ranking_metrics
from shortlist.data.dataset import Dataset
from shortlist.data.facts import DataFacts
from shortlist.data.splits import Split, random_holdout
from shortlist.errors import ConfigError, ShortlistError
from shortlist.models.registry import create_model
from shortlist.pipeline.needs import Omission, plan_spec
from shortlist.pipeline.resources import available_memory_bytes, estimate_cost, own_memory_guard
from shortlist.pipeline.spec import PipelineSpec, StageSpec
from shortlist.pipeline.stages import Stage
from shortlist.pipeline.tuning.blend import (
    ValidationRows,
    build_rows,
    concat_rows,
    search_blend,
    stacked_inputs,
)
from shortlist.pipeline.tuning.report import ModelTuning, TuningReport
from shortlist.pipeline.tuning.spaces import explicit_space, model_space, suggest

__all__ = ["TuningResult", "auto_budget", "fit_tuned", "tune_pipeline"]

#: share of the budget spent on model hyperparameters (the rest: rows, blend, final stage)
_MODEL_SHARE = 0.6
#: a model is skipped when one fit is estimated to take more than this many times its share
_SKIP_FACTOR = 1.5
#: a blend weight below this leaves the model (and its source) out
_MIN_WEIGHT = 0.02
#: LambdaMART must beat the blend by this relative margin in cross-validation to be kept
_STACK_MARGIN = 0.005


def auto_budget(n_cells: int, one_fit_each: float = 0.0) -> float:
    """The default budget in seconds: grows with the data, from 8 s to 10 min.

    2 s per 1,000 user-item cells, or three fits of every candidate model
    (``one_fit_each``: their estimated seconds for one fit each) when that is more, so that a
    catalog where one EASE fit takes a minute still gets each model tried. The cap leaves
    the final fit and an evaluation room inside a 20-minute run on 1M interactions.
    """
    return float(np.clip(max(n_cells / 500.0, 3.0 * one_fit_each), 8.0, 600.0))


@dataclass
class TuningResult:
    """The tuned spec, what was left out, the trained final stages and the report."""

    spec: PipelineSpec
    omitted: list[Omission]
    report: TuningReport
    trained_stages: dict[str, Stage] = field(default_factory=dict)
    weighting: str | None = None


@dataclass
class _Fold:
    """One validation fold: its split, sampled validation users and their held-out items."""

    split: Split
    users: np.ndarray

    @property
    def relevant(self) -> Any:
        return self.split.test.matrix[self.users]


def _folds(dataset: Dataset, spec: PipelineSpec, count: int | None = None, start: int = 0) -> list[_Fold]:
    """Validation folds ``start .. start + count - 1`` (each a different seeded cut of ``dataset``)."""
    ts = spec.tuning
    out = []
    for f in range(start, start + (ts.folds if count is None else count)):
        split = random_holdout(dataset.interactions, ts.validation_fraction, seed=ts.seed + 1 + f)
        test_counts = np.diff(split.test.matrix.indptr)
        train_counts = np.diff(split.train.matrix.indptr)
        users = np.flatnonzero((test_counts > 0) & (train_counts > 0))
        if users.size > ts.max_users:
            users = np.sort(np.random.default_rng(ts.seed + f).choice(users, ts.max_users, replace=False))
        out.append(_Fold(split, users))
    return out


def _score_model(model: Any, fold: _Fold, users: np.ndarray, k: int, metric: str) -> float:
    if users.size == 0:
        return 0.0
    top, _ = model.recommend_indices(users, k, exclude_seen=True)
    return float(np.nanmean(ranking_metrics(top, fold.split.test.matrix[users], k)[metric]))


class _Tuner:
    """State of one tuning run (kept out of the public function to keep each step short)."""

    def __init__(self, pipeline: Any, dataset: Dataset, budget: float | None, progress: bool | None,
                 log: Callable[[str], None] | None, storage_dir: str | Path | None) -> None:
        self.pipeline, self.dataset = pipeline, dataset
        self.spec: PipelineSpec = pipeline.declared_spec
        self.ts = self.spec.tuning
        self.k, self.metric = self.spec.k, self.ts.metric
        budget = self.ts.budget_seconds if budget is None else (None if budget == "auto" else budget)
        self.budget = self._auto_budget() if budget is None else float(budget)
        self.progress, self.log = progress, log or (lambda line: None)
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        self.started = time.perf_counter()
        self.report = TuningReport(metric=f"{self.metric}@{self.k}", budget_seconds=self.budget, folds=self.ts.folds)

    def _auto_budget(self) -> float:
        data = self.dataset.interactions
        fits = [estimate_cost(ms.kind, ms.params, data) for ms in self.spec.models.values()]
        limit = self.memory_limit()
        return auto_budget(data.nnz, sum(c.seconds for c in fits if c.bytes <= limit))

    def elapsed(self) -> float:
        """Seconds since tuning started (budgets are checked against it, except with fixed trials)."""
        return time.perf_counter() - self.started

    # -- step 3: weighting ---------------------------------------------------------------
    def choose_weighting(self, folds: list[_Fold], models: dict[str, Any]) -> str | None:
        info = self.dataset.info or {}
        if info.get("weighting") != "auto" or info.get("values", "none") == "none":
            return None
        probe = next((n for n in ("ease", "itemknn", "als") if n in models), next(iter(models), None))
        if probe is None:
            return None
        kind, params = models[probe].kind, dict(models[probe].params)
        scores = {}
        options = ["binary", "value", "log"]
        if info.get("values") == "ratings":
            # ratings at or above the median as the only positives (the cells below drop out)
            options.append(f"threshold:{float(np.median(self.dataset.interactions.value)):g}")
        for w in options:
            fold = folds[0]
            train = fold.split.train.with_weighting(w)
            model = create_model(kind, params).fit(train, progress=False)
            scores[w] = _score_model(model, fold, fold.users, self.k, self.metric)
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
        """Models that would not fit in memory, or whose one fit would take most of their budget share."""
        limit = self.memory_limit()
        share = self.budget * _MODEL_SHARE / max(1, len(models))
        out = {}
        for name, ms in models.items():
            cost = estimate_cost(ms.kind, ms.params, train)
            if cost.bytes > limit:
                out[name] = (f"needs {cost.describe()}; {limit / 1e9:.1f} GB may be used "
                             f"(set [tuning] max_memory_gb to change)")
            elif cost.seconds > _SKIP_FACTOR * share and cost.seconds > 5:
                out[name] = f"needs {cost.describe()}, over its {share:.0f} s share of the tuning budget"
        return out

    # -- step 4: one model's search --------------------------------------------------------
    def tune_model(self, name: str, ms: Any, folds: list[_Fold], seconds: float,
                   facts: DataFacts) -> tuple[ModelTuning, list[Any]]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = (explicit_space(self.ts.spaces[name], name) if name in self.ts.spaces
                 else model_space(ms.kind, facts))
        space = {k: v for k, v in space.items() if k not in ms.params}  # declared params stay fixed
        fixed = dict(ms.params)
        need_gb = estimate_cost(ms.kind, ms.params, folds[0].split.train).bytes / 1e9
        guard = own_memory_guard(ms.kind, ms.params)
        if guard is not None and "max_memory_gb" not in fixed and need_gb > guard:
            # the planner checked that this fits the machine: the model's own default guard
            # should not refuse it (sized from the data alone, so choices stay reproducible)
            fixed["max_memory_gb"] = float(np.ceil(need_gb * 1.25))
        record = ModelTuning(name, ms.kind)
        best: dict[str, Any] = {"score": -np.inf, "models": [], "params": {}}
        t0 = time.perf_counter()

        def objective(trial: Any) -> float:
            params = {**fixed, **suggest(trial, space)}
            fitted, scores = [], []
            t_fit = time.perf_counter()
            for f, fold in enumerate(folds):
                try:
                    model = create_model(ms.kind, params).fit(fold.split.train, progress=False)
                except (ShortlistError, ValueError, np.linalg.LinAlgError) as exc:
                    # a setting this data cannot take (e.g. more factors than items): try others,
                    # but stop a model none of whose first settings can be fitted at all
                    record.trials.append({"params": _plain(params), "score": None, "state": f"failed: {exc}",
                                          "seconds": round(time.perf_counter() - t_fit, 3)})
                    failed = [t for t in record.trials if t["state"].startswith("failed")]
                    if len(failed) >= 5 and len(failed) == len(record.trials):
                        trial.study.stop()
                    raise optuna.TrialPruned() from None
                fitted.append(model)
                half = fold.users[: max(1, fold.users.size // 2)]
                if f == 0 and len(folds) == 1 and space:
                    # median pruning on the first half of the validation users
                    trial.report(_score_model(model, fold, half, self.k, self.metric), 0)
                    if trial.should_prune():
                        record.trials.append({"params": _plain(params), "score": None, "state": "pruned",
                                              "seconds": round(time.perf_counter() - t_fit, 3)})
                        raise optuna.TrialPruned()
                scores.append(_score_model(model, fold, fold.users, self.k, self.metric))
                if len(folds) > 1:
                    trial.report(float(np.mean(scores)), f)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
            score = float(np.mean(scores))
            record.trials.append({"params": _plain(params), "score": score, "state": "complete",
                                  "seconds": round(time.perf_counter() - t_fit, 3)})
            if score > best["score"]:
                best.update(score=score, models=fitted, params=params)
            bar.set_postfix_str(f"best {self.metric}@{self.k} {best['score']:.4f}")
            bar.update(1)
            return score

        from tqdm.auto import tqdm

        storage = self._storage()
        study = optuna.create_study(
            direction="maximize", study_name=f"{name}-{int(time.time() * 1000)}", storage=storage,
            sampler=optuna.samplers.TPESampler(seed=self.ts.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0))
        defaults = _defaults_in_space(ms.kind, space)
        if defaults is not None:
            study.enqueue_trial(defaults)
        n_trials = 1 if not space else (self.ts.trials or 500)
        with tqdm(total=n_trials if self.ts.trials or not space else None, desc=f"tuning {name}",
                  disable=None if self.progress is None else not self.progress, leave=False) as bar:
            study.optimize(objective, n_trials=n_trials,
                           timeout=None if (self.ts.trials or not space) else max(seconds, 1e-3))
        record.seconds = round(time.perf_counter() - t0, 2)
        record.best_params = _plain({k: v for k, v in best["params"].items() if k in space or k in fixed})
        record.best_score = None if not np.isfinite(best["score"]) else float(best["score"])
        done = [t for t in record.trials if t["state"] == "complete"]
        stopped = len(record.trials) - len(done)
        self.log(f"tuned {name} ({ms.kind}): {len(done)} trials{f' + {stopped} pruned' if stopped else ''}"
                 f" in {record.seconds:.1f} s, best validation {self.metric}@{self.k} "
                 f"{record.best_score if record.best_score is None else round(record.best_score, 4)}"
                 + (f" ({', '.join(f'{k}={_short(v)}' for k, v in record.best_params.items())})"
                    if record.best_params else ""))
        return record, best["models"]

    def _storage(self) -> Any:
        if self.storage_dir is None:
            return None
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        self.storage_dir.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(self.storage_dir / "optuna-journal.log")))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _defaults_in_space(kind: str, space: dict[str, tuple[Any, ...]]) -> dict[str, Any] | None:
    """The model's own defaults as a first trial, where they lie inside the space."""
    import inspect

    from shortlist.models.registry import model_class

    sig = inspect.signature(model_class(kind).__init__)
    out = {}
    for key, dist in space.items():
        if key not in sig.parameters:
            return None
        value = sig.parameters[key].default
        if dist[0] == "choice":
            if value not in dist[1]:
                return None
        elif not (dist[1] <= value <= dist[2]):
            return None
        out[key] = value
    return out


def _candidate_spec(planned: PipelineSpec, params: dict[str, dict[str, Any]], names: list[str],
                    weights: dict[str, float], stages: list[dict[str, Any]] | None = None) -> PipelineSpec:
    """``planned`` with tuned ``params``, only the models ``names`` (and their sources) and a blend."""
    data = planned.model_dump(exclude_unset=True)
    data["models"] = {n: {"kind": planned.models[n].kind, "params": params.get(n, {})} for n in names}
    data["sources"] = [s.model_dump(exclude_unset=True) for s in planned.sources
                       if s.model is None or s.model in names]
    features = planned.features.model_dump()
    features["scorers"] = list(names)
    data["features"] = features
    quota = sum(int(s["quota"]) for s in data["sources"])
    blend_budget = min(quota, max(planned.k, planned.stages[0].budget if planned.stages else 100))
    blend = {"name": "blend", "kind": "linear", "budget": blend_budget,
             "params": {"weights": {f"model_{n}_z": float(weights.get(n, 0.0)) for n in names},
                        "standardize": False}}
    data["stages"] = [blend, *(stages or [])]
    data["k"] = min(planned.k, blend_budget)
    data["tuning"] = {**planned.tuning.model_dump(exclude_unset=True), "budget": 0}
    return PipelineSpec.model_validate(data)


def _stack_stage(k: int) -> StageSpec:
    return StageSpec(name="ranker", kind="lightgbm", budget=max(k, 20), stack=True,
                     params={"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15,
                             "min_data_in_leaf": 50})


def _train_stack(rows: ValidationRows, labels: np.ndarray, spec: StageSpec) -> Stage | None:
    """A stacked LambdaMART stage trained on ``rows`` (inputs already cut and stacked)."""
    has = (labels & (rows.items >= 0)).any(axis=1)
    if has.sum() < 10:
        return None
    stage = Stage(spec)
    x, y, groups = [], [], []
    for r in np.flatnonzero(has):
        ok = rows.items[r] >= 0
        x.append(rows.x[r, ok])
        y.append(labels[r, ok].astype(np.float32))
        groups.append(int(ok.sum()))
    stage.fit(np.concatenate(x), {"relevant": np.concatenate(y)}, np.asarray(groups, np.int64),
              feature_names=rows.names[:-1] + [rows.names[-1]], valid=None)
    stage.pretrained = True
    return stage


def _stage_scores(stage: Stage, rows: ValidationRows) -> np.ndarray:
    u, c, f = rows.x.shape
    flat = stage.scorer.score(rows.x.reshape(u * c, f)) if u * c else np.zeros(0)
    return np.asarray(flat, np.float64).reshape(u, c)


def _lightgbm_available() -> bool:
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    return True


def _tune_models(tuner: _Tuner, planned: PipelineSpec, folds: list[_Fold],
                 facts: DataFacts) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]]]:
    """Step 4: tune every planned model, cheapest first; (params, fitted models) by name."""
    train = folds[0].split.train
    affordable = {n: (ms, estimate_cost(ms.kind, ms.params, train)) for n, ms in planned.models.items()}
    params, fitted = {}, {}
    order = sorted(affordable, key=lambda n: affordable[n][1].seconds)
    pool = tuner.budget * _MODEL_SHARE
    for i, name in enumerate(order):
        ms, cost = affordable[name]
        share = max(0.0, pool - tuner.elapsed()) / (len(order) - i)
        record, models = tuner.tune_model(name, ms, folds, share, facts)
        record.estimate = cost.describe()
        tuner.report.models.append(record)
        if models:
            params[name] = {**ms.params, **record.best_params}
            fitted[name] = models
    if not fitted:
        raise ConfigError("no model could be fitted within the tuning budget; raise --budget or free memory")
    return params, fitted


def _blend_folds(tuner: _Tuner, planned: PipelineSpec, folds: list[_Fold], params: dict[str, dict[str, Any]],
                 fitted: dict[str, list[Any]]) -> list[_Fold]:
    """The folds the blend learns on: the tuning folds, plus new ones up to ``blend_folds``.

    A new fold gets every tuned model fitted on its training part (appended to ``fitted``).
    Blend weights learned on more validation users generalise better, and refitting a few
    tuned models costs little next to their search.
    """
    want = tuner.ts.blend_folds
    if len(folds) >= want or (tuner.ts.trials is None and tuner.elapsed() > tuner.budget):
        return folds
    extra = _folds(tuner.dataset, tuner.spec, count=want - len(folds), start=len(folds))
    for fold in extra:
        if tuner.report.weighting:
            fold.split = Split(fold.split.train.with_weighting(tuner.report.weighting["chosen"]), fold.split.test,
                               fold.split.fold_in, fold.split.protocol)
        for name, models in fitted.items():
            models.append(create_model(planned.models[name].kind, params[name]).fit(fold.split.train,
                                                                                    progress=False))
    return [*folds, *extra]


def _rows(tuner: _Tuner, planned: PipelineSpec, folds: list[_Fold], params: dict[str, dict[str, Any]],
          fitted: dict[str, list[Any]], names: list[str], weights: dict[str, float]) -> ValidationRows:
    """Validation rows of every fold with ``names``' sources and scorers (models of that fold)."""
    from shortlist.pipeline.pipeline import Pipeline

    pipe = Pipeline(_candidate_spec(planned, params, names, weights))
    out = []
    for f, fold in enumerate(folds):
        parts = pipe.build_parts(tuner.dataset.with_interactions(fold.split.train),
                                 {n: fitted[n][f] for n in names})
        out.append(build_rows(pipe, parts, fold.users, fold.relevant))
    return concat_rows(out)


def _blend_step(tuner: _Tuner, planned: PipelineSpec, folds: list[_Fold], params: dict[str, dict[str, Any]],
                fitted: dict[str, list[Any]]) -> tuple[list[str], dict[str, float], ValidationRows]:
    """Step 5: candidates of the validation users with every tuned model, then blend weights."""
    names = list(fitted)
    rows = _rows(tuner, planned, folds, params, fitted, names, {n: 1.0 for n in names})
    features = [f"model_{n}_z" for n in names]
    declared = (planned.stages[0].params.get("weights", {}) if planned.stages else {})
    starts = [{f: 1.0 for f in features}, {f: float(declared.get(f, 0.0)) for f in features}]
    weights, score, trials = search_blend(rows, features, k=tuner.k, metric=tuner.metric,
                                          n_trials=tuner.ts.blend_trials, seed=tuner.ts.seed, starts=starts)
    by_model = {n: weights[f"model_{n}_z"] for n in names}
    tuner.report.blend = {"weights": by_model, "score": score, "n_trials": len(trials), "folds": len(folds),
                          "validation_rows": len(rows), "trials": trials}
    tuner.log(f"blend: validation {tuner.metric}@{tuner.k} {score:.4f} on {len(folds)} fold(s) with weights "
              + ", ".join(f"{n} {w:.2f}" for n, w in by_model.items()))
    return names, by_model, rows


def _final_stage(tuner: _Tuner, rows: ValidationRows, names: list[str], weights: dict[str, float],
                 blend_budget: int) -> tuple[list[dict[str, Any]], dict[str, Stage]]:
    """Step 6: the blend alone, or LambdaMART stacked on it, by 2-fold cross-validation over users."""
    if "lightgbm" not in tuner.ts.final_stages or not _lightgbm_available() or len(rows) < 40:
        why = ("lightgbm is not installed" if "lightgbm" in tuner.ts.final_stages and not _lightgbm_available()
               else "too few validation users to train a ranker" if len(rows) < 40
               else "only the linear blend was asked for")
        tuner.report.final_stage = {"chosen": "linear", "why": why}
        return [], {}
    if tuner.ts.trials is None and tuner.elapsed() > tuner.budget:  # fixed trials: no clock, same choices
        tuner.report.final_stage = {"chosen": "linear", "why": "the budget was spent"}
        return [], {}
    features = [f"model_{n}_z" for n in names]
    cols = np.stack([rows.column(f) for f in features], axis=-1)
    rng = np.random.default_rng(tuner.ts.seed)
    half = rng.permutation(len(rows)) % 2 == 0
    spec = _stack_stage(tuner.k)
    lin, stack = [], []
    for part in (half, ~half):
        train_idx, test_idx = np.flatnonzero(part), np.flatnonzero(~part)
        w, _, _ = search_blend(rows.subset(train_idx), features, k=tuner.k, metric=tuner.metric,
                               n_trials=max(30, tuner.ts.blend_trials // 2), seed=tuner.ts.seed,
                               starts=[{f"model_{n}_z": weights[n] for n in names}])
        vec = np.array([w[f] for f in features])
        test_rows = rows.subset(test_idx)
        lin.append(test_rows.metric(cols[test_idx] @ vec, tuner.k, tuner.metric))
        cut_train = stacked_inputs(rows.subset(train_idx), cols[train_idx] @ vec, blend_budget)
        stage = _train_stack(cut_train, cut_train.labels(), spec)
        cut_test = stacked_inputs(test_rows, cols[test_idx] @ vec, blend_budget)
        stack.append(cut_test.metric(_stage_scores(stage, cut_test), tuner.k, tuner.metric) if stage else -1.0)
    scores = {"linear": float(np.mean(lin)), "linear + lightgbm": float(np.mean(stack))}
    keep_stack = scores["linear + lightgbm"] > scores["linear"] * (1 + _STACK_MARGIN)
    tuner.report.final_stage = {"scores": scores, "chosen": "linear + lightgbm" if keep_stack else "linear"}
    tuner.log(f"final stage: linear {scores['linear']:.4f}, linear + lightgbm {scores['linear + lightgbm']:.4f} "
              f"(2-fold cross-validation) -> {tuner.report.final_stage['chosen']}")
    if not keep_stack:
        return [], {}
    vec = np.array([weights[n] for n in names])
    cut = stacked_inputs(rows, cols @ vec, blend_budget)
    stage = _train_stack(cut, cut.labels(), spec)
    if stage is None:
        return [], {}
    return [spec.model_dump(exclude_unset=True)], {spec.name: stage}


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
    folds = _folds(dataset, tuner.spec)
    tuner.report.validation_users = int(folds[0].users.size)
    if folds[0].users.size < 2:
        raise ConfigError(f"too little data to tune on: {folds[0].users.size} validation user(s) have both "
                          "training and held-out items; use --budget 0 (no tuning) or give more data")
    weighting = tuner.choose_weighting(folds, dict(planned.models))
    params, fitted = _tune_models(tuner, planned, folds, facts)
    folds = _blend_folds(tuner, planned, folds, params, fitted)
    names, weights, rows = _blend_step(tuner, planned, folds, params, fitted)
    chosen = [n for n in names if weights[n] >= _MIN_WEIGHT]
    for n in names:
        if n not in chosen:
            tuner.report.reasons.append(f"model {n!r} left out with its source: blend weight {weights[n]:.3f}")
    blend_budget = _candidate_spec(planned, params, chosen, weights).stages[0].budget
    if len(chosen) < len(names):  # the candidates change with the sources: rescore on the exact set
        rows = _rows(tuner, planned, folds, params, fitted, chosen, weights)
        vec = np.array([weights[n] for n in chosen])
        tuner.report.blend["score_final_sources"] = rows.metric(
            np.stack([rows.column(f"model_{n}_z") for n in chosen], -1) @ vec, tuner.k, tuner.metric)
    stages, trained = _final_stage(tuner, rows, chosen, weights, blend_budget)
    spec = _candidate_spec(planned, params, chosen, weights, stages)
    best = tuner.report.best_single
    tuner.report.chosen = {"models": {n: {"kind": spec.models[n].kind, "params": spec.models[n].params,
                                          "weight": weights[n]} for n in chosen},
                           "stages": [s.name for s in spec.stages], "weighting": weighting}
    if best is not None:
        tuner.report.reasons.append(
            f"best single model on validation: {best[0]} {best[1]:.4f}; the tuned pipeline's blend "
            f"{tuner.report.blend['score']:.4f} ({tuner.report.blend['score'] / max(best[1], 1e-12):.3f}x)")
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
        dataset = Dataset(dataset.name, dataset.interactions.with_weighting(result.weighting), dataset.user_features,
                          dataset.item_features, dataset.social, dataset.info)
    pipeline.declared_spec = result.spec
    pipeline.omitted_by_tuning = list(result.omitted)
    pipeline.tuning_ = result.report
    pipeline.fit(dataset, progress=progress, trained_stages=result.trained_stages)
    return pipeline
