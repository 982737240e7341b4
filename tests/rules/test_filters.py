"""Exact tests of the filters: seen, blocklist, sensitive categories, dedupe, TF-IDF."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError
from shortlist.retrieval.types import Candidates, Request
from shortlist.rules import (
    Blocklist,
    Dedupe,
    ExcludeSeen,
    ItemAttributes,
    SensitiveCategories,
    tfidf_matrix,
)


def cands(items, scores=None):
    items = np.asarray(items)
    return Candidates(items, np.linspace(1, 0, len(items)) if scores is None else scores)


def reasons(drops):
    return {d.reason: sorted(d.items.tolist()) for d in drops}


def test_exclude_seen_training_history_and_exclude():
    seen = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]], np.float32))
    rule = ExcludeSeen(ItemAttributes(8, seen=seen))
    req = Request(user_index=0, history=np.array([3]), exclude=np.array([4, 0]))
    out, drops = rule.apply(req, cands(range(8)), 5)
    assert out.items.tolist() == [1, 5, 6, 7]
    assert reasons(drops) == {"seen": [0, 2, 3], "excluded": [4]}
    assert all(d.stage == "exclude_seen" for d in drops)
    # anonymous user: only history/exclude apply; switching parts off keeps items
    out, drops = rule.apply(Request(history=np.array([1])), cands(range(8)), 5)
    assert reasons(drops) == {"seen": [1]}
    out, drops = ExcludeSeen(ItemAttributes(8, seen=seen), training=False, exclude=False).apply(
        req, cands(range(8)), 5
    )
    assert reasons(drops) == {"seen": [3]}


def test_exclude_seen_parts_switch_off_one_by_one():
    rule = ExcludeSeen(ItemAttributes(6), training=False, history=False)
    out, drops = rule.apply(Request(history=np.array([1]), exclude=np.array([2])), cands(range(6)), 6)
    assert out.items.tolist() == [0, 1, 3, 4, 5] and reasons(drops) == {"excluded": [2]}
    rule = ExcludeSeen(ItemAttributes(6), training=False)
    out, drops = rule.apply(Request(history=np.array([1, 4]), exclude=np.array([4])), cands(range(6)), 6)
    assert reasons(drops) == {"seen": [1, 4]}   # "seen" wins when an item is both


def test_exclude_seen_without_interactions_names_the_fix():
    with pytest.raises(ConfigError, match="'seen'.*fix: pass seen="):
        ExcludeSeen(ItemAttributes(3))
    assert ExcludeSeen(ItemAttributes(3), training=False).apply(
        Request(history=np.array([2])), cands([0, 1, 2]), 3
    )[0].items.tolist() == [0, 1]


def test_blocklist_global_ids_and_request_context():
    attrs = ItemAttributes(5, vocab=Vocab(np.array(["a", "b", "c", "d", "e"])))
    rule = Blocklist(attrs, items=["b", "e"], name="editorial")
    out, drops = rule.apply(Request(context={"blocklist": [0]}), cands(range(5)), 5)
    assert out.items.tolist() == [2, 3]
    assert len(drops) == 1 and drops[0].reason == "blocklisted" and drops[0].stage == "editorial"
    assert sorted(drops[0].items.tolist()) == [0, 1, 4]
    with pytest.raises(ConfigError, match=r"items=\['zz'\].*ignore_unknown"):
        Blocklist(attrs, items=["zz"])
    assert (
        Blocklist(attrs, items=["zz"], ignore_unknown=True).apply(Request(), cands(range(5)), 5)[1]
        == []
    )


def test_blocklist_first_catalog_item_is_known_and_only_unknown_ids_are_named():
    attrs = ItemAttributes(12, vocab=Vocab(np.array(list("abcdefghijkl"))))
    out, drops = Blocklist(attrs, items=["a"]).apply(Request(), cands(range(12)), 12)   # index 0
    assert 0 not in out.items.tolist() and drops[0].items.tolist() == [0]
    with pytest.raises(ConfigError, match=r"items=\['zz', 'yy'\] are not"):
        Blocklist(attrs, items=["a", "zz", "b", "yy"])
    # more than a handful blocked (binary search path), candidates in any order
    rule = Blocklist(attrs, items=list("lkjihgfedc"))
    out, _ = rule.apply(Request(), cands([11, 0, 5, 1, 2]), 5)
    assert out.items.tolist() == [0, 1]


def test_sensitive_flags_only_and_the_64_label_limit():
    def attrs(n_flags):
        flags = np.eye(3, n_flags, dtype=bool)
        return ItemAttributes(3, sensitive=flags, sensitive_names=tuple(f"f{i}" for i in range(n_flags)))

    # no category attribute and no categories asked for: flags alone work
    rule = SensitiveCategories(attrs(64))
    out, drops = rule.apply(Request(), cands(range(3)), 3)
    assert out.items.tolist() == [] and reasons(drops) == {"sensitive:f0": [0], "sensitive:f1": [1],
                                                            "sensitive:f2": [2]}
    with pytest.raises(ConfigError, match="65 sensitive names, at most 64"):
        SensitiveCategories(attrs(65))


def test_dedupe_of_two_and_of_one_candidate():
    attrs = ItemAttributes(3, duplicate_group=np.array([5, 5, 5]))
    out, drops = Dedupe(attrs, by=["duplicate_group"]).apply(Request(), cands([1, 2]), 2)
    assert out.items.tolist() == [1] and reasons(drops) == {"duplicate-of:1": [2]}
    out, drops = Dedupe(attrs, by=["duplicate_group"]).apply(Request(), cands([2]), 1)
    assert out.items.tolist() == [2] and drops == []


def test_dedupe_when_every_candidate_shares_one_key():
    for code in (0, 3):
        attrs = ItemAttributes(4, duplicate_group=np.full(4, code))
        out, drops = Dedupe(attrs, by=["duplicate_group"]).apply(Request(), cands([2, 0, 3, 1]), 4)
        assert out.items.tolist() == [2]
        assert reasons(drops) == {"duplicate-of:2": [0, 1, 3]}


def test_dedupe_text_threshold_is_inclusive():
    text = np.array(["x y", "y z", "q"])
    sim = (tfidf_matrix(text) @ tfidf_matrix(text).T).toarray()
    out, drops = Dedupe(ItemAttributes(3, text=text), by=["text"], text_threshold=float(sim[0, 1])).apply(
        Request(), cands([0, 1, 2]), 3
    )
    assert out.items.tolist() == [0, 2] and reasons(drops) == {"duplicate-of:0": [1]}


def sensitive_attrs():
    #          item: 0    1    2    3    4    5
    category = np.array([0, 1, 2, 1, -1, 2])
    flags = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [1, 0], [0, 0]], bool)
    return ItemAttributes(
        6,
        category=category,
        category_names=("news", "gore", "kids"),
        sensitive=flags,
        sensitive_names=("violence", "adult"),
    )


def test_sensitive_categories_and_flags_with_first_reason():
    rule = SensitiveCategories(sensitive_attrs(), categories=["gore"], flags=["adult", "violence"])
    out, drops = rule.apply(Request(), cands(range(6)), 6)
    assert out.items.tolist() == [0, 5]
    # config order decides the reason: category 'gore' first, then 'adult', then 'violence'
    assert reasons(drops) == {"sensitive:gore": [1, 3], "sensitive:violence": [2, 4]}


def test_sensitive_opt_in_all_or_by_name():
    rule = SensitiveCategories(sensitive_attrs(), categories=["gore"])  # flags default: every flag
    assert len(rule.apply(Request(context={"allow_sensitive": True}), cands(range(6)), 6)[0]) == 6
    out, drops = rule.apply(
        Request(context={"allow_sensitive": ["gore", "violence"]}), cands(range(6)), 6
    )
    # item 1 and 3 carry 'adult' which was not allowed; 2 and 4 only 'violence'
    assert out.items.tolist() == [0, 2, 4, 5]
    assert reasons(drops) == {"sensitive:adult": [1, 3]}


def test_sensitive_two_categories_without_flags():
    attrs = ItemAttributes(6, category=np.array([0, 1, 2, 1, -1, 2]), category_names=("news", "gore", "kids"))
    rule = SensitiveCategories(attrs, categories=["gore", "kids"])   # no 'sensitive' attribute needed
    out, drops = rule.apply(Request(), cands(range(6)), 6)
    assert out.items.tolist() == [0, 4]
    assert reasons(drops) == {"sensitive:gore": [1, 3], "sensitive:kids": [2, 5]}
    out, drops = rule.apply(Request(context={"allow_sensitive": ["kids"]}), cands(range(6)), 6)
    assert out.items.tolist() == [0, 2, 4, 5] and reasons(drops) == {"sensitive:gore": [1, 3]}


def test_sensitive_unknown_names_and_missing_attributes():
    with pytest.raises(ConfigError, match="'porn'.*fix: use names from news, gore, kids"):
        SensitiveCategories(sensitive_attrs(), categories=["porn"])
    with pytest.raises(ConfigError, match="flags contains 'porn'.*fix: use names from violence, adult$"):
        SensitiveCategories(sensitive_attrs(), flags=["porn"])
    with pytest.raises(ConfigError, match="needs the item attribute 'sensitive'"):
        SensitiveCategories(ItemAttributes(3, category=np.zeros(3, int)))


def test_tfidf_matches_hand_computation():
    m = tfidf_matrix(np.array(["a b", "a", ""]))
    idf_a, idf_b = np.log(4 / 3) + 1, np.log(4 / 2) + 1
    row0 = np.array([idf_a, idf_b]) / np.hypot(idf_a, idf_b)
    np.testing.assert_allclose(m.toarray(), [row0, [1, 0], [0, 0]], rtol=1e-6)
    np.testing.assert_allclose(
        tfidf_matrix(sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 0]]))).toarray(),
        m.toarray(),
        rtol=1e-6,
    )


def test_dedupe_keeps_best_scored_per_group_and_hash():
    attrs = ItemAttributes(
        6,
        duplicate_group=np.array([0, 1, 0, -1, -1, 1]),
        content_hash=np.array([-1, 5, -1, 7, 7, -1]),
    )
    c = Candidates(np.arange(6), np.array([0.2, 0.9, 0.8, 0.1, 0.3, 0.9]))
    out, drops = Dedupe(attrs, by=["duplicate_group", "content_hash"]).apply(Request(), c, 6)
    # group 0: 2 beats 0; group 1: tie 1/5 -> earlier position 1; hash 7: 4 beats 3
    assert out.items.tolist() == [1, 2, 4]
    assert reasons(drops) == {"duplicate-of:2": [0], "duplicate-of:1": [5], "duplicate-of:4": [3]}
    out, _ = Dedupe(attrs, by=["content_hash"]).apply(Request(), c, 6)
    assert out.items.tolist() == [0, 1, 2, 4, 5]


def test_dedupe_is_greedy_not_transitive():
    # a~b and b~c but not a~c: keep a (best), drop b, and c survives since its match b is gone
    text = np.array(["x y", "y z", "z w", "q"])
    attrs = ItemAttributes(4, text=text)
    sim = (tfidf_matrix(text) @ tfidf_matrix(text).T).toarray()
    thr = float(sim[0, 1]) - 1e-3
    assert sim[0, 2] < thr and sim[1, 2] >= thr
    out, drops = Dedupe(attrs, by=["text"], text_threshold=thr).apply(
        Request(), cands([0, 1, 2, 3]), 4
    )
    assert out.items.tolist() == [0, 2, 3]
    assert reasons(drops) == {"duplicate-of:0": [1]}


def test_dedupe_config_errors():
    with pytest.raises(ConfigError, match="by=.*fix: set by to a non-empty list"):
        Dedupe(ItemAttributes(2, duplicate_group=np.zeros(2, int)), by=[])
    with pytest.raises(ConfigError, match="'content_hash'"):
        Dedupe(ItemAttributes(2), by=["content_hash"])
