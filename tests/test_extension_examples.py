"""The extension examples of docs/architecture.md, run as written: a model, a source, a stage and a rule.

They register into copies of the registries (restored after the test), so the rest of the
suite never sees the example kinds.
"""

import numpy as np

from shortlist.data import Dataset
from shortlist.data.facts import Need
from shortlist.models.base import Recommender
from shortlist.models.registry import MODELS, register
from shortlist.pipeline import Pipeline
from shortlist.pipeline.stage_kinds import STAGES, StageKind
from shortlist.retrieval.sources import SOURCES, CandidateSource, SourceConfig
from shortlist.retrieval.types import Candidates
from shortlist.rules.base import Rule
from shortlist.rules.registry import RULES, register_rule
from tests.conftest import block_interactions


# -- a model: score = how many users touched the item, damped by its index ---------------
class DampedPopularity(Recommender):
    """Popularity divided by (1 + damping * item index): a toy model with one parameter."""

    def __init__(self, *, damping: float = 0.1) -> None:
        self.damping = damping

    def _fit(self, data, *, progress):
        counts = np.bincount(self.train_.indices, minlength=self.train_.shape[1])
        self.item_scores_ = (counts / (1 + self.damping * np.arange(counts.size))).astype(np.float32)

    def _score_block(self, user_idx, item_idx):
        s = self.item_scores_ if item_idx is None else self.item_scores_[item_idx]
        return np.broadcast_to(s, (len(user_idx), s.shape[0]))

    def _state(self):
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays):
        self.item_scores_ = arrays["item_scores"]


# -- a source: the first items of the catalog (needs nothing from the data) ---------------
class FirstItemsConfig(SourceConfig):
    offset: int = 0


class FirstItems(CandidateSource):
    """The catalog's first items, from ``offset`` on."""

    Config = FirstItemsConfig  # the parameters, declared once

    @classmethod
    def needs(cls, config):
        return [] if not config.get("by_time") else [Need("timestamps")]

    def _fit(self, context):
        pass

    def _generate(self, request, k, excluded):
        items = np.arange(self.offset, min(self.offset + k + excluded.size, self.n_items_), dtype=np.int64)
        return items, -items.astype(np.float32)  # earlier items first


# -- a ranking stage kind: score = minus the item index (nothing to train) ------------------
class LowIndexFirst(StageKind):
    """Lower item indices first."""

    @property
    def trainable(self):
        return False

    def score(self, x, request, items):
        return -items.astype(np.float32)


# -- a rule: drop odd item indices, and say why ---------------------------------------------
class DropOdd(Rule):
    """Drop odd item indices."""

    def apply(self, request, candidates, k):
        codes = np.where(candidates.items % 2 == 1, 0, -1)
        return self._filter(candidates, codes, ("odd item",))


def test_the_three_examples_run_in_a_pipeline_and_explain_themselves(tmp_path, monkeypatch):
    for registry in (MODELS, RULES):  # built-ins (and extras) in first, then copies to register into
        registry.names()
        monkeypatch.setattr(registry, "_classes", dict(registry._classes))
        monkeypatch.setattr(registry, "_defaults", dict(registry._defaults))
    register("example-damped-popularity")(DampedPopularity)  # as @register(...) on the class
    register_rule("example-drop-odd")(DropOdd)
    monkeypatch.setitem(SOURCES, "example-first-items", FirstItems)  # as @SOURCES.register(...)
    monkeypatch.setattr(FirstItems, "kind", "example-first-items")
    monkeypatch.setitem(STAGES, "example-low-index", LowIndexFirst)  # as @STAGES.register(...)
    spec = {
        "name": "examples", "k": 5,
        "models": {"damped": {"kind": "example-damped-popularity", "params": {"damping": 0.05}}},
        "sources": [{"name": "damped", "kind": "model", "model": "damped", "quota": 20},
                    {"name": "first", "kind": "example-first-items", "quota": 10}],
        "stages": [{"name": "low", "kind": "example-low-index", "budget": 20}],
        "rules": [{"kind": "exclude_seen"}, {"kind": "example-drop-odd"}],
    }
    data = block_interactions(n_users=40, n_items=30)
    pipe = Pipeline(spec).fit(Dataset("blocks", data), progress=False)
    resp = pipe.recommend(3)
    assert len(resp.item_ids) == 5 and all(i % 2 == 0 for i in resp.item_indices)
    assert not set(resp.item_indices) & set(data.matrix[3].indices)
    drops = [d for s in resp.trace.stages for d in s.drops if d.reason == "odd item"]
    assert drops and all(i % 2 == 1 for d in drops for i in d.items)
    assert resp.trace.stages[0].extra["per_source"]["first"] == 10
    assert list(resp.item_indices) == sorted(resp.item_indices)  # the stage put low indices first
    # each component is called the same way: component(request, candidates) -> candidates
    req = pipe.make_request(3)
    cands = pipe.sources_[1](req, Candidates.empty())
    assert len(cands) == 10 and len(DropOdd()(req, cands)) <= len(cands)
    # the model saves and loads like any other
    loaded = Pipeline.load(pipe.save(tmp_path / "p"))
    assert loaded.recommend(3).item_ids == resp.item_ids
