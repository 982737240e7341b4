"""Exact tests of pinned items."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import ItemAttributes, Pinned


def attrs():
    return ItemAttributes(10, vocab=Vocab(np.array([f"i{j}" for j in range(10)])))


def cands(items):
    return Candidates(
        np.asarray(items),
        np.linspace(1, 0, len(items)),
        source_scores={"pop": np.arange(len(items), dtype=np.float32)},
        source_ranks={"pop": np.arange(len(items))},
    )


def test_pins_from_config_move_items_to_their_positions():
    rule = Pinned(attrs(), pins=[{"item": "i5", "position": 0}, {"item": "i1", "position": 3}])
    out, drops = rule.apply(Request(), cands([0, 1, 2, 3, 4, 5]), 4)
    assert drops == []
    assert out.items.tolist() == [5, 0, 2, 1, 3, 4]
    assert out.source_ranks["pop"].tolist() == [5, 0, 2, 1, 3, 4]  # aligned columns move along


def test_pins_from_request_override_and_missing_items():
    rule = Pinned(attrs(), pins=[{"item": "i2", "position": 0}])
    req = Request(context={"pinned": [{"item": 2, "position": 2}, (9, 0)]})
    out, _ = rule.apply(req, cands([0, 1, 2, 3]), 4)
    assert out.items.tolist() == [
        0,
        1,
        2,
        3,
    ]  # the request moved i2 to 2; i9 is no candidate: skipped
    inserting = Pinned(attrs(), insert_missing=True)
    out, _ = inserting.apply(req, cands([0, 1, 2, 3]), 4)
    assert out.items.tolist() == [9, 0, 2, 1, 3]
    assert out.scores[0] == pytest.approx(1.0)  # takes the displaced item's score
    assert np.isnan(out.source_scores["pop"][0]) and out.source_ranks["pop"][0] == -1


def test_pin_collisions_and_far_positions():
    rule = Pinned(attrs(), pins=[{"item": "i3", "position": 1}, {"item": "i0", "position": 99}])
    out, _ = rule.apply(Request(context={"pinned": [(2, 1)]}), cands([0, 1, 2, 3, 4]), 5)
    # position 1 asked twice: the request pin (i2) gets it, i3 goes right after; i0 goes last
    assert out.items.tolist() == [1, 2, 3, 4, 0]


def test_pin_config_errors():
    with pytest.raises(ConfigError, match="position 0.* appears twice"):
        Pinned(attrs(), pins=[{"item": "i1", "position": 0}, {"item": "i2", "position": 0}])
    with pytest.raises(ConfigError, match="pins.item='nope' is not in the catalog"):
        Pinned(attrs(), pins=[{"item": "nope", "position": 0}])
    with pytest.raises(
        ConfigError, match=r"pins.0.position=-1: .*fix: set pins.0.position to an integer >= 0"
    ):
        Pinned(attrs(), pins=[{"item": "i1", "position": -1}])
    with pytest.raises(DataError, match="pinned="):
        Pinned(attrs()).apply(Request(context={"pinned": [("x", "y")]}), cands([0]), 1)


def test_rules_built_without_attributes_take_item_indices():
    from shortlist.rules import Blocklist

    out, _ = Pinned(pins=[{"item": 3, "position": 0}]).apply(Request(), cands([0, 1, 3]), 3)
    assert out.items.tolist() == [3, 0, 1]
    out, drops = Blocklist(items=[1, 40]).apply(Request(), cands([0, 1, 40, 2]), 3)
    assert out.items.tolist() == [0, 2] and sorted(drops[0].items.tolist()) == [1, 40]
    with pytest.raises(ConfigError, match=r"pins.item=\['x'\].*integer indices"):
        Pinned(pins=[{"item": "x", "position": 0}])
