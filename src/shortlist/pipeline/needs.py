"""What each pipeline component needs from the data, and the spec that the data can run.

Every component declares its needs (a model class's ``needs``, a source's
``needs(config)``, a rule's ``requires`` attributes, the feature columns of ``[features]``).
:func:`plan_spec` compares them with :class:`DataFacts` *before anything is fitted*: a
component whose need is missing is left out, with one :class:`Omission` line that says
why ("source 'friends' left out: no social graph in the data"); a component marked
``required = true`` stops the build at once with the fix instead. Leaving out a model also
leaves out what reads it (its sources, its scorer features, stage weights on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shortlist.data.facts import DataFacts, Need
from shortlist.errors import ConfigError
from shortlist.pipeline.spec import PipelineSpec

__all__ = ["DataFacts", "Need", "Omission", "plan_spec", "model_needs", "source_needs"]


@dataclass(frozen=True)
class Omission:
    """A component left out of the pipeline because the data lacks what it needs."""

    component: str  # "model", "source", "rule", "feature", "attribute", "stage weight"
    name: str
    reason: str

    def line(self) -> str:
        return f"{self.component} {self.name!r} left out: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"component": self.component, "name": self.name, "reason": self.reason}


def model_needs(kind: str, params: dict[str, Any]) -> list[Need]:
    """What a model of registry name ``kind`` needs (its class's ``needs``)."""
    from shortlist.models.registry import model_class

    return [Need(*n) if isinstance(n, tuple) else Need(n) for n in getattr(model_class(kind), "needs", ())]


def source_needs(kind: str, config: dict[str, Any]) -> list[Need]:
    """What a source of ``kind`` with ``config`` needs (its class's ``needs(config)``)."""
    from shortlist.retrieval.sources import SOURCES

    cls = SOURCES.get(kind)
    return list(cls.needs(config)) if cls is not None and hasattr(cls, "needs") else []


def _first_missing(facts: DataFacts, needs: list[Need]) -> str | None:
    for need in needs:
        why = facts.missing(need)
        if why:
            return why
    return None


def _require_or_omit(required: bool, what: str, name: str, why: str, out: list[Omission]) -> None:
    if required:
        raise ConfigError(f"{what} {name!r} is marked required = true but cannot run: {why}; add it to the "
                          f"data, or set required = false to let the pipeline leave it out")
    out.append(Omission(what, name, why))


def plan_spec(spec: PipelineSpec, facts: DataFacts,
              skip: dict[str, str] | None = None) -> tuple[PipelineSpec, list[Omission]]:
    """The part of ``spec`` that runs on data with ``facts``, and what was left out (in order).

    ``skip`` maps model names to a reason to leave them out that is not a data need (e.g.
    "needs about 160 GB ..." from the resource estimates); they are left out like the rest.
    """
    out: list[Omission] = []
    data = spec.model_dump(exclude_unset=True)
    models = _plan_models(spec, facts, skip or {}, out)
    gone_models = set(spec.models) - set(models)
    sources = _plan_sources(spec, facts, gone_models, out)
    features = _plan_features(spec, facts, models, out)
    attributes = _plan_attributes(spec, facts, out)
    rules = _plan_rules(spec, attributes, out)
    stages = _plan_stages(spec, gone_models, out)
    data.update(
        models={n: m.model_dump(exclude_unset=True) for n, m in models.items()},
        sources=[s.model_dump(exclude_unset=True) for s in sources],
        features=features, attributes=attributes, rules=rules, stages=stages,
    )
    if "features" not in spec.model_fields_set and features == type(spec.features)().model_dump():
        data.pop("features")
    planned = PipelineSpec.model_validate(_fit_budgets(data))
    return planned, out


def _plan_models(spec: PipelineSpec, facts: DataFacts, skip: dict[str, str], out: list[Omission]) -> dict[str, Any]:
    """The models that can run (by name); the rest are left out, or stop the plan when required."""
    models = dict(spec.models)
    for name, ms in spec.models.items():
        why = skip.get(name) or _first_missing(facts, model_needs(ms.kind, ms.params))
        if why:
            _require_or_omit(ms.required, "model", name, why, out)
            del models[name]
    return models


def _plan_sources(spec: PipelineSpec, facts: DataFacts, gone_models: set[str], out: list[Omission]) -> list[Any]:
    """The candidate sources that can run (those over a left-out model cannot); at least one."""
    sources = []
    for s in spec.sources:
        config = s.model_dump(exclude={"kind", "weight", "required"}, exclude_unset=True)
        why = (f"its model {s.model!r} was left out" if s.model in gone_models
               else _first_missing(facts, source_needs(s.kind, config)))
        if why:
            _require_or_omit(s.required, "source", s.name, why, out)
        else:
            sources.append(s)
    if not sources:
        raise ConfigError("no candidate source can run on this data: " + "; ".join(o.line() for o in out)
                          + "; add a source that needs nothing, such as a popularity model source")
    return sources


def _plan_features(spec: PipelineSpec, facts: DataFacts, models: dict[str, Any],
                   out: list[Omission]) -> dict[str, Any]:
    """The ``[features]`` table without scorers of left-out models and item columns the data lacks."""
    features = spec.features.model_dump()
    features["scorers"] = [n for n in spec.features.scorers if n in models]
    for key in ("bag_columns", "group_columns", "numeric_columns"):
        kept = []
        for col in features[key]:
            why = facts.missing(Need("item_feature", col))
            if why:
                out.append(Omission("feature", col, why))
            else:
                kept.append(col)
        features[key] = kept
    if features.get("publish_time_column"):
        why = facts.missing(Need("item_feature", features["publish_time_column"]))
        if why:
            out.append(Omission("feature", features["publish_time_column"], why))
            features["publish_time_column"] = None
    return features


def _plan_attributes(spec: PipelineSpec, facts: DataFacts, out: list[Omission]) -> dict[str, Any]:
    """The ``[attributes]`` mapping without attributes whose columns the data lacks."""
    attributes = dict(spec.attributes)
    for attr, col in list(attributes.items()):
        cols = col if isinstance(col, list) else [col]
        if not all(isinstance(c, str) for c in cols):
            continue  # numbers such as time_unit_s are settings, not columns
        side = "user_feature" if attr.startswith("home_") else "item_feature"
        why = _first_missing(facts, [Need(side, c) for c in cols])
        if why:
            out.append(Omission("attribute", attr, why))
            del attributes[attr]
    return attributes


def _plan_rules(spec: PipelineSpec, attributes: dict[str, Any], out: list[Omission]) -> list[dict[str, Any]]:
    """The rules (as dicts) whose required item attributes are all mapped."""
    from shortlist.rules import rule_class

    rules = []
    for r in spec.rules:
        lacking = [a for a in getattr(rule_class(r.kind), "requires", ())
                   if a not in ("seen",) and a not in attributes]
        if lacking:
            _require_or_omit(r.required, "rule", r.kind,
                             f"needs item attribute(s) {lacking}, which the data does not provide", out)
        else:
            rules.append(r.model_dump(exclude_unset=True))
    return rules


def _plan_stages(spec: PipelineSpec, gone_models: set[str], out: list[Omission]) -> list[dict[str, Any]]:
    """Stages without references to left-out models (weights on their features, model stages)."""
    stages = []
    for st in spec.stages:
        d = st.model_dump(exclude_unset=True)
        if st.kind == "model" and st.model in gone_models:
            _require_or_omit(st.required, "stage", st.name, f"its model {st.model!r} was left out", out)
            continue
        params = dict(d.get("params", {}))
        for key in ("weights", "search"):
            if key in params:
                kept = {f: w for f, w in params[key].items()
                        if not any(f.startswith(f"model_{m}_") or f == f"model_{m}" for m in gone_models)}
                for f in sorted(set(params[key]) - set(kept)):
                    out.append(Omission("stage weight", f"{st.name}.{f}", "its model was left out"))
                params[key] = kept
        if "params" in d:
            d["params"] = params
        stages.append(d)
    return stages


def _fit_budgets(data: dict[str, Any]) -> dict[str, Any]:
    """Lower stage budgets (and k) that now exceed what the remaining sources can propose."""
    previous = sum(int(s["quota"]) for s in data["sources"])
    for st in data.get("stages", []):
        st["budget"] = min(int(st["budget"]), previous)
        previous = st["budget"]
    if "k" in data:
        data["k"] = min(int(data["k"]), previous)
    return data
