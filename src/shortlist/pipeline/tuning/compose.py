"""Composing the tuned models: validation rows, blend weights, the final stage, the concrete spec."""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.data.splits import Split
from shortlist.models.registry import create_model, model_class
from shortlist.pipeline.resources import estimate_cost
from shortlist.pipeline.spec import PipelineSpec, StageSpec
from shortlist.pipeline.stages import Stage
from shortlist.pipeline.tuning.blend import (
    ValidationRows,
    build_rows,
    concat_rows,
    search_blend,
    stacked_inputs,
)
from shortlist.pipeline.tuning.folds import Fold, make_folds

__all__ = ["MIN_WEIGHT", "blend_feature", "blend_folds", "blend_step", "blend_terms_by_cv", "candidate_spec",
           "final_stage", "refit_peak_bytes", "reweigh_without", "validation_rows"]

#: a blend weight below this leaves the model (and its source) out
MIN_WEIGHT = 0.02
#: LambdaMART must beat the blend by this relative margin in cross-validation to be kept
STACK_MARGIN = 0.005


def blend_feature(planned: PipelineSpec, name: str) -> str:
    """The feature of model ``name`` that the blend weighs: its z-score, or its raw score (``blend_feature``)."""
    raw = model_class(planned.models[name].kind).blend_feature == "raw"
    return f"model_{name}" if raw else f"model_{name}_z"


def candidate_spec(planned: PipelineSpec, params: dict[str, dict[str, Any]], names: list[str],
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
             "params": {"weights": {blend_feature(planned, n): float(weights.get(n, 0.0)) for n in names},
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
              feature_names=rows.names, valid=None)
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


def refit_peak_bytes(states: list[int], peaks: list[int], folds: int) -> int:
    """Peak memory of fitting models one after another, ``folds`` times over, keeping every fitted one.

    ``states[m]`` is what model ``m`` keeps once fitted, ``peaks[m]`` its peak while fitting (its
    state included). While model ``m`` of the last fold fits, the models of the earlier folds and
    those before ``m`` in this one are held; at the end all of them are.
    """
    held = sum(states)
    within, before = 0, 0
    for state, peak in zip(states, peaks):
        within = max(within, before + peak)
        before += state
    return held * (folds - 1) + max(within, held)


def blend_folds(tuner: Any, planned: PipelineSpec, folds: list[Fold], params: dict[str, dict[str, Any]],
                 fitted: dict[str, list[Any]]) -> list[Fold]:
    """The folds the blend learns on: the tuning folds, plus new ones up to ``blend_folds``.

    A new fold gets every tuned model fitted on its training part (appended to ``fitted``).
    Blend weights learned on more validation users generalise better, and refitting a few
    tuned models costs little next to their search.
    """
    want = tuner.ts.blend_folds
    if len(folds) >= want or (tuner.ts.trials is None and tuner.elapsed() > tuner.budget):
        return folds
    # every fold keeps its own fitted models until the blend is chosen: hold them only if they fit
    states = [sum(a.nbytes for a in models[0]._state().values()) for models in fitted.values()]
    peaks = [estimate_cost(planned.models[n].kind, params[n], folds[0].split.train).bytes for n in fitted]
    need = refit_peak_bytes(states, peaks, want)
    if need > tuner.memory_limit():
        tuner.log(f"blend on {len(folds)} fold(s): fitting the tuned models of {want} folds would need about "
                  f"{need / 1e9:.1f} GB at its peak")
        return folds
    extra = make_folds(tuner.dataset, tuner.spec, count=want - len(folds), start=len(folds))
    for fold in extra:
        if tuner.report.weighting:
            fold.split = Split(fold.split.train.with_weighting(tuner.report.weighting["chosen"]), fold.split.test,
                               fold.split.fold_in, fold.split.protocol)
        for name, models in fitted.items():
            models.append(create_model(planned.models[name].kind, params[name]).fit(fold.split.train,
                                                                                    progress=False))
    return [*folds, *extra]


def validation_rows(tuner: Any, planned: PipelineSpec, folds: list[Fold], params: dict[str, dict[str, Any]],
          fitted: dict[str, list[Any]], names: list[str], weights: dict[str, float]) -> ValidationRows:
    """Validation rows of every fold with ``names``' sources and scorers (models of that fold)."""
    from shortlist.pipeline.pipeline import Pipeline

    pipe = Pipeline(candidate_spec(planned, params, names, weights))
    out = []
    for f, fold in enumerate(folds):
        parts = pipe.build_parts(tuner.dataset.with_interactions(fold.split.train),
                                 {n: fitted[n][f] for n in names})
        out.append(build_rows(pipe, parts, fold.users, fold.relevant))
    return concat_rows(out)


def blend_step(tuner: Any, planned: PipelineSpec, folds: list[Fold], params: dict[str, dict[str, Any]],
                fitted: dict[str, list[Any]]) -> tuple[list[str], dict[str, float], ValidationRows]:
    """Step 5: candidates of the validation users with every tuned model, then blend weights."""
    names = list(fitted)
    rows = validation_rows(tuner, planned, folds, params, fitted, names, {n: 1.0 for n in names})
    features = [blend_feature(planned, n) for n in names]
    declared = (planned.stages[0].params.get("weights", {}) if planned.stages else {})
    starts = [{f: 1.0 for f in features}, {f: float(declared.get(f, 0.0)) for f in features}]
    weights, score, trials = search_blend(rows, features, k=tuner.k, metric=tuner.metric,
                                          n_trials=tuner.ts.blend_trials, seed=tuner.ts.seed, starts=starts)
    by_model = {n: weights[blend_feature(planned, n)] for n in names}
    tuner.report.blend = {"weights": by_model, "score": score, "n_trials": len(trials), "folds": len(folds),
                          "validation_rows": len(rows), "trials": trials}
    tuner.log(f"blend: validation {tuner.metric}@{tuner.k} {score:.4f} on {len(folds)} fold(s) with weights "
              + ", ".join(f"{n} {w:.2f}" for n, w in by_model.items()))
    return names, by_model, rows


def _half_blends(tuner: Any, rows: ValidationRows, features: list[str],
                 starts: dict[str, float]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """2-fold cross-validation of the blend over ``features``: per half of the validation users
    (one seeded cut for every comparison), (fit rows, test rows, weights fitted on the fit rows,
    the blend's metric on the test rows)."""
    cols = np.stack([rows.column(f) for f in features], axis=-1)
    half = np.random.default_rng(tuner.ts.seed).permutation(len(rows)) % 2 == 0
    out = []
    for part in (half, ~half):
        fit_idx, test_idx = np.flatnonzero(part), np.flatnonzero(~part)
        w, _, _ = search_blend(rows.subset(fit_idx), features, k=tuner.k, metric=tuner.metric,
                               n_trials=max(30, tuner.ts.blend_trials // 2), seed=tuner.ts.seed, starts=[starts])
        vec = np.array([w[f] for f in features])
        out.append((fit_idx, test_idx, vec, rows.subset(test_idx).metric(cols[test_idx] @ vec, tuner.k, tuner.metric)))
    return out


def blend_terms_by_cv(tuner: Any, planned: PipelineSpec, rows: ValidationRows, names: list[str],
                      weights: dict[str, float]) -> list[str]:
    """Step 5b: the blend terms (scorers with no source) that do not earn their place; left out.

    A blend weight is fitted on the users it is judged on, so a term that carries no signal
    still gets one. A term that proposes no candidates leaves the rows as they are when it is
    dropped, so each one is judged on held-out users at the cost of two blend searches: by
    2-fold cross-validation over the validation users, with and without it. It stays only
    when the blend scores higher with it.
    """
    sourced = {s.model for s in planned.sources}
    terms = [n for n in names if n not in sourced and weights[n] >= MIN_WEIGHT]
    if not terms or len(rows) < 40:
        return []

    def cv(keep: list[str]) -> float:
        features = [blend_feature(planned, n) for n in keep]
        halves = _half_blends(tuner, rows, features, {f: weights[n] for n, f in zip(keep, features)})
        return float(np.mean([score for *_, score in halves]))

    kept = [n for n in names if weights[n] >= MIN_WEIGHT]
    with_all = cv(kept)
    dropped, scores = [], {"with every term": with_all}
    for term in terms:
        without = cv([n for n in kept if n != term])
        scores[f"without {term}"] = without
        verdict = "kept" if with_all > without else "left out"
        tuner.log(f"blend term {term!r} {verdict}: 2-fold cross-validation {tuner.metric}@{tuner.k} "
                  f"{with_all:.4f} with it, {without:.4f} without")
        if with_all <= without:
            dropped.append(term)
            tuner.report.reasons.append(f"blend term {term!r} left out: held-out validation {tuner.metric} "
                                        f"{without:.4f} without it, {with_all:.4f} with it")
    tuner.report.blend["terms_cv"] = scores
    return dropped


def reweigh_without(tuner: Any, planned: PipelineSpec, rows: ValidationRows, names: list[str],
                    weights: dict[str, float], dropped: list[str]) -> dict[str, float]:
    """Blend weights searched again on ``rows`` without the ``dropped`` models (theirs become 0)."""
    keep = [n for n in names if n not in dropped]
    features = [blend_feature(planned, n) for n in keep]
    found, score, _ = search_blend(rows, features, k=tuner.k, metric=tuner.metric, n_trials=tuner.ts.blend_trials,
                                   seed=tuner.ts.seed, starts=[{f: weights[n] for n, f in zip(keep, features)}])
    out = {n: (found[blend_feature(planned, n)] if n in keep else 0.0) for n in names}
    tuner.report.blend["reweighed"] = {"weights": out, "score": score, "without": dropped}
    tuner.log(f"blend without {', '.join(dropped)}: validation {tuner.metric}@{tuner.k} {score:.4f} with weights "
              + ", ".join(f"{n} {out[n]:.2f}" for n in keep))
    return out


def final_stage(tuner: Any, planned: PipelineSpec, rows: ValidationRows, names: list[str],
                weights: dict[str, float], blend_budget: int) -> tuple[list[dict[str, Any]], dict[str, Stage]]:
    """Step 6: the blend alone, or LambdaMART stacked on it, by 2-fold cross-validation over users."""
    if "lightgbm" not in tuner.ts.final_stages or not _lightgbm_available() or len(rows) < 40:
        why = ("lightgbm is not installed" if "lightgbm" in tuner.ts.final_stages and not _lightgbm_available()
               else "too few validation users to train a ranker" if len(rows) < 40
               else "only the linear blend was asked for")
        tuner.report.final_stage = {"chosen": "linear", "why": why}
        return [], {}
    # the comparison costs two small LambdaMART fits, whatever the data: it runs even when the
    # model searches used the whole budget, unless the run is already far over it
    if tuner.ts.trials is None and tuner.elapsed() > 2 * tuner.budget:  # fixed trials: no clock
        tuner.report.final_stage = {"chosen": "linear", "why": "the run is twice over its budget"}
        return [], {}
    features = [blend_feature(planned, n) for n in names]
    cols = np.stack([rows.column(f) for f in features], axis=-1)
    spec = _stack_stage(tuner.k)
    lin, stack = [], []
    for train_idx, test_idx, vec, linear in _half_blends(tuner, rows, features,
                                                         {f: weights[n] for n, f in zip(names, features)}):
        test_rows = rows.subset(test_idx)
        lin.append(linear)
        cut_train = stacked_inputs(rows.subset(train_idx), cols[train_idx] @ vec, blend_budget)
        stage = _train_stack(cut_train, cut_train.labels(), spec)
        cut_test = stacked_inputs(test_rows, cols[test_idx] @ vec, blend_budget)
        if stage is None:  # too few users with a relevant candidate to learn a ranking from
            tuner.report.final_stage = {"chosen": "linear", "why": "fewer than 10 validation users with a "
                                        "relevant candidate in a half: too few to train a ranker"}
            tuner.log(f"final stage: linear ({tuner.report.final_stage['why']})")
            return [], {}
        stack.append(cut_test.metric(_stage_scores(stage, cut_test), tuner.k, tuner.metric))
    scores = {"linear": float(np.mean(lin)), "linear + lightgbm": float(np.mean(stack))}
    keep_stack = scores["linear + lightgbm"] > scores["linear"] * (1 + STACK_MARGIN)
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
