"""Exploration slot rule: reserved positions, propensities, never a seen item, nothing lost."""

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.errors import ConfigError
from shortlist.retrieval import Candidates, Request
from shortlist.rules import ExplorationSlot, ItemAttributes


def attrs(n=40):
    publish = np.arange(n, dtype=float)  # item 39 is the newest
    seen = sp.csr_matrix((np.ones(3), ([0, 0, 0], [39, 38, 5])), shape=(2, n))
    return ItemAttributes(n, publish_time=publish, seen=seen)


def ranked(n=8):
    items = np.arange(n, dtype=np.int64)
    return Candidates(items, np.linspace(1, 0, n).astype(np.float32))


def test_fresh_pool_at_reserved_positions_with_propensities():
    rule = ExplorationSlot(attrs(), positions=[1, 3], pool_size=4, seed=0)
    out, drops = rule.apply(Request(user_index=0), ranked(), k=5)
    assert drops == []
    # user 0 has seen 39 and 38: the fresh pool is the 4 newest unseen items
    pool = {37, 36, 35, 34}
    assert out.items[1] in pool and out.items[3] in pool
    props = out.features["propensity"]
    assert props[1] == pytest.approx(1 / 4) and props[3] == pytest.approx(1 / 3)  # without replacement
    assert np.all(props[[0, 2, 4]] == 1.0)
    assert out.features["explored"][[1, 3]].all() and not out.features["explored"][[0, 2, 4]].any()
    # nothing lost: every original candidate is still there, in order, after the picks
    rest = [i for i in out.items.tolist() if i not in pool]
    assert rest == list(range(8))


def test_rate_zero_never_explores_and_draws_are_seeded():
    base = ranked()
    out, _ = ExplorationSlot(attrs(), rate=0.0).apply(Request(user_index=1), base, k=5)
    assert out.items.tolist() == base.items.tolist()
    picks = [ExplorationSlot(attrs(), positions=[0], seed=3).apply(Request(user_index=1), base, 5)[0].items[0]
             for _ in range(2)]
    assert picks[0] == picks[1]


def test_frequencies_match_propensities():
    rule = ExplorationSlot(attrs(), positions=[0], pool_size=5, seed=1)
    counts = {}
    for _ in range(4000):
        out, _ = rule.apply(Request(user_index=1), ranked(), k=3)
        counts[int(out.items[0])] = counts.get(int(out.items[0]), 0) + 1
    assert set(counts) == {39, 38, 37, 36, 35}
    assert all(abs(c / 4000 - 0.2) < 0.03 for c in counts.values())


def test_config_errors():
    with pytest.raises(ConfigError, match="publish_time"):
        ExplorationSlot(ItemAttributes(5), pool="fresh")
    with pytest.raises(ConfigError, match="rate"):
        ExplorationSlot(attrs(), rate=2.0)
