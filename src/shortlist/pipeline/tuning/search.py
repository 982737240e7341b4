"""One model's hyperparameter search (Optuna TPE with median pruning) on the validation folds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.data.facts import DataFacts
from shortlist.errors import ConfigError, ShortlistError
from shortlist.models.registry import create_model, model_defaults
from shortlist.pipeline.resources import estimate_cost, own_memory_guard
from shortlist.pipeline.spec import PipelineSpec
from shortlist.pipeline.tuning.folds import Fold, score_model
from shortlist.pipeline.tuning.report import ModelTuning
from shortlist.pipeline.tuning.spaces import explicit_space, model_space, suggest

__all__ = ["MODEL_SHARE", "search_model", "study_storage", "tune_models"]

#: share of the budget spent on model hyperparameters (the rest: rows, blend, final stage)
MODEL_SHARE = 0.6


def tune_models(tuner: Any, planned: PipelineSpec, folds: list[Fold],
                 facts: DataFacts) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]]]:
    """Step 4: tune every planned model, cheapest first; (params, fitted models) by name."""
    train = folds[0].split.train
    affordable = {n: (ms, estimate_cost(ms.kind, ms.params, train)) for n, ms in planned.models.items()}
    params, fitted = {}, {}
    order = sorted(affordable, key=lambda n: affordable[n][1].seconds)
    pool = tuner.budget * MODEL_SHARE
    for i, name in enumerate(order):
        ms, cost = affordable[name]
        share = max(0.0, pool - tuner.elapsed()) / (len(order) - i)
        record, models = search_model(tuner, name, ms, folds, share, facts)
        record.estimate = cost.describe()
        tuner.report.models.append(record)
        if models:
            params[name] = {**ms.params, **record.best_params}
            fitted[name] = models
    if not fitted:
        raise ConfigError("no model could be fitted within the tuning budget; raise --budget or free memory")
    return params, fitted


def search_model(tuner: Any, name: str, ms: Any, folds: list[Fold], seconds: float,
                 facts: DataFacts) -> tuple[ModelTuning, list[Any]]:
    """Search one model within ``seconds`` (or ``[tuning] trials``); its record and best fitted models.

    The model's defaults are the first trial; median pruning stops a trial whose score on half
    of the validation users is below the running median; settings the data cannot take are
    recorded as failed and skipped.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = _search_space(tuner, name, ms, facts)
    fixed = _fixed_params(ms, space, folds)
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
                _record_failure(record, trial, params, exc, t_fit)
                raise optuna.TrialPruned() from None
            fitted.append(model)
            half = fold.users[: max(1, fold.users.size // 2)]
            if f == 0 and len(folds) == 1 and space:
                # median pruning on the first half of the validation users
                trial.report(score_model(model, fold, half, tuner.k, tuner.metric), 0)
                if trial.should_prune():
                    record.trials.append(_trial(params, None, "pruned", t_fit))
                    raise optuna.TrialPruned()
            scores.append(score_model(model, fold, fold.users, tuner.k, tuner.metric))
            if len(folds) > 1:
                trial.report(float(np.mean(scores)), f)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        score = float(np.mean(scores))
        record.trials.append(_trial(params, score, "complete", t_fit))
        if score > best["score"]:
            best.update(score=score, models=fitted, params=params)
        bar.set_postfix_str(f"best {tuner.metric}@{tuner.k} {best['score']:.4f}")
        bar.update(1)
        return score

    from tqdm.auto import tqdm

    study = _create_study(tuner, name, ms.kind, space)
    n_trials = 1 if not space else (tuner.ts.trials or 500)
    with tqdm(total=n_trials if tuner.ts.trials or not space else None, desc=f"tuning {name}",
              disable=None if tuner.progress is None else not tuner.progress, leave=False) as bar:
        study.optimize(objective, n_trials=n_trials,
                       timeout=None if (tuner.ts.trials or not space) else max(seconds, 1e-3))
    record.seconds = round(time.perf_counter() - t0, 2)
    _finish_record(tuner, name, ms.kind, record, best, set(space) | set(fixed))
    return record, best["models"]


def _search_space(tuner: Any, name: str, ms: Any, facts: DataFacts) -> dict[str, Any]:
    """The searched hyperparameters: ``[tuning.spaces]``'s or the model's default space, less declared params."""
    space = (explicit_space(tuner.ts.spaces[name], name) if name in tuner.ts.spaces
             else model_space(ms.kind, facts))
    return {k: v for k, v in space.items() if k not in ms.params}  # declared params stay fixed


def _record_failure(record: ModelTuning, trial: Any, params: dict[str, Any], exc: Exception, t_fit: float) -> None:
    """Record a setting this data cannot take (e.g. more factors than items), so that others are tried.

    A model none of whose first five settings can be fitted at all stops its study.
    """
    record.trials.append(_trial(params, None, f"failed: {exc}", t_fit))
    failed = [t for t in record.trials if t["state"].startswith("failed")]
    if len(failed) >= 5 and len(failed) == len(record.trials):
        trial.study.stop()


def _fixed_params(ms: Any, space: dict[str, Any], folds: list[Fold]) -> dict[str, Any]:
    """The declared params, plus a memory guard raised to the costliest corner of ``space`` where needed."""
    fixed = dict(ms.params)
    # the costliest corner of the space (e.g. the graph filter's sharpening doubles its memory)
    need_gb = max(estimate_cost(ms.kind, {**ms.params, **corner}, folds[0].split.train).bytes
                  for corner in ({}, _upper_corner(space))) / 1e9
    guard = own_memory_guard(ms.kind, ms.params)
    if guard is not None and "max_memory_gb" not in fixed and need_gb > guard:
        # the planner checked that this fits the machine: the model's own default guard
        # should not refuse it (sized from the data alone, so choices stay reproducible)
        fixed["max_memory_gb"] = float(np.ceil(need_gb * 1.25))
    return fixed


def _trial(params: dict[str, Any], score: float | None, state: str, t_fit: float) -> dict[str, Any]:
    """One trial's entry in the record."""
    return {"params": _plain(params), "score": score, "state": state,
            "seconds": round(time.perf_counter() - t_fit, 3)}


def _create_study(tuner: Any, name: str, kind: str, space: dict[str, Any]) -> Any:
    """A TPE study with median pruning (in the tuner's journal when it has one), the defaults queued first."""
    import optuna

    study = optuna.create_study(
        direction="maximize", study_name=f"{name}-{int(time.time() * 1000)}",
        storage=study_storage(tuner.storage_dir), sampler=optuna.samplers.TPESampler(seed=tuner.ts.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0))
    defaults = _defaults_in_space(kind, space)
    if defaults is not None:
        study.enqueue_trial(defaults)
    return study


def _finish_record(tuner: Any, name: str, kind: str, record: ModelTuning, best: dict[str, Any],
                   keys: set[str]) -> None:
    """The best setting (its ``keys``: searched or fixed) and score into ``record``, and the search's log line."""
    record.best_params = _plain({k: v for k, v in best["params"].items() if k in keys})
    record.best_score = None if not np.isfinite(best["score"]) else float(best["score"])
    done = [t for t in record.trials if t["state"] == "complete"]
    pruned = sum(t["state"] == "pruned" for t in record.trials)
    failed = len(record.trials) - len(done) - pruned
    tuner.log(f"tuned {name} ({kind}): {len(done)} trials{f' + {pruned} pruned' if pruned else ''}"
              f"{f' + {failed} failed' if failed else ''}"
              f" in {record.seconds:.1f} s, best validation {tuner.metric}@{tuner.k} "
              f"{record.best_score if record.best_score is None else round(record.best_score, 4)}"
              + (f" ({', '.join(f'{k}={_short(v)}' for k, v in record.best_params.items())})"
                 if record.best_params else ""))


def study_storage(folder: Path | None) -> Any:
    """Optuna storage: a journal file in ``folder`` (the studies outlive the run), or memory."""
    if folder is None:
        return None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    folder.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(folder / "optuna-journal.log")))


def _upper_corner(space: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Every numeric hyperparameter at the top of its range (where costs peak)."""
    out: dict[str, Any] = {}
    for key, dist in space.items():
        if dist[0] == "choice":
            numbers = [v for v in dist[1] if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if numbers:
                out[key] = max(numbers)
        else:
            out[key] = dist[2]
    return out


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _defaults_in_space(kind: str, space: dict[str, tuple[Any, ...]]) -> dict[str, Any] | None:
    """The model's own defaults as a first trial, where they lie inside the space."""
    defaults = model_defaults(kind)
    out = {}
    for key, dist in space.items():
        if key not in defaults:
            return None
        value = defaults[key]
        if dist[0] == "choice":
            if value not in dist[1]:
                return None
        elif not (dist[1] <= value <= dist[2]):
            return None
        out[key] = value
    return out
