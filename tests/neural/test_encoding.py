"""FieldEncoder: index layout, categorical/bag/numeric values, hashing, unseen values, JSON."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("torch")

from shortlist.data import FeatureTable, Vocab
from shortlist.errors import ConfigError
from shortlist.neural.encoding import FieldEncoder, history_bags, padded, stable_hash


def _table(ids=("u1", "u2", "u3")) -> FeatureTable:
    t = FeatureTable(Vocab(list(ids)))
    t.add_categorical("country", ["fr", None, "de"][: len(ids)])
    t.add_multi("tags", [["a", "b"], [], ["b"]][: len(ids)])
    t.add_numeric("age", [10.0, np.nan, 30.0][: len(ids)])
    return t


def test_layout_and_values():
    t = _table()
    enc = FieldEncoder().fit(t.vocab, t)
    assert enc.field_names == ["id", "country", "tags", "age"]
    # id: unknown + 3; country: missing + de + fr; tags: a, b; age: value + missing
    assert [f["size"] for f in enc.fields_] == [4, 3, 2, 2]
    m = enc.transform(t.vocab.ids, t).toarray()
    # user u1: id slot 1, country "fr" (categories sorted: de, fr -> slot 2), tags a,b mean-pooled
    # age z-score: mean 20, std 10 -> -1
    expected_u1 = [0, 1, 0, 0, 0, 0, 1, 0.5, 0.5, -1.0, 0]
    np.testing.assert_allclose(m[0], expected_u1)
    # u2: missing country -> slot 0 of the field, empty bag, NaN age -> missing slot
    np.testing.assert_allclose(m[1], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    assert m[2, 4 + 1] == 1 and m[2, 8] == 1.0 and m[2, 9] == pytest.approx(1.0)


def test_sum_pooling_and_cold_ids():
    t = _table()
    enc = FieldEncoder(pooling="sum").fit(t.vocab, t)
    m = enc.transform(t.vocab.ids, t, known=np.array([True, False, True])).toarray()
    np.testing.assert_allclose(m[0, 7:9], [1.0, 1.0])
    assert m[1, 0] == 1 and m[1, 1:4].sum() == 0  # unknown-id slot for the cold entity


def test_new_table_maps_by_label_and_unseen_is_missing():
    t = _table()
    enc = FieldEncoder(use_id=False).fit(t.vocab, t)
    new = FeatureTable(Vocab(["n1"]))
    new.add_categorical("country", ["it"])  # never seen: missing slot
    new.add_multi("tags", [["b", "zzz"]])
    new.add_numeric("age", [40.0])
    m = enc.transform(np.array(["n1"]), new).toarray()[0]
    np.testing.assert_allclose(m, [1, 0, 0, 0, 1.0, 2.0, 0])  # "zzz" dropped, "b" gets the whole mean


def test_hashing_for_many_categories_is_stable():
    ids = [f"u{i}" for i in range(50)]
    t = FeatureTable(Vocab(ids))
    t.add_categorical("zip", [f"z{i}" for i in range(50)])
    enc = FieldEncoder(use_id=True, id_buckets=16, max_categories=10, hash_buckets=8).fit(t.vocab, t)
    assert [f["size"] for f in enc.fields_] == [17, 9]
    m = enc.transform(np.asarray(ids), t)
    zip_slot = m[:, 17:].tocsr().indices
    np.testing.assert_array_equal(zip_slot, stable_hash(np.asarray([f"z{i}" for i in range(50)]), 8) + 1)
    # an unseen category still lands in a bucket (not the missing slot)
    new = FeatureTable(Vocab(["x"]))
    new.add_categorical("zip", ["brand-new"])
    assert enc.transform(np.array(["x"]), new)[:, 18:].nnz == 1


def test_json_roundtrip_gives_same_rows():
    t = _table()
    enc = FieldEncoder().fit(t.vocab, t)
    again = FieldEncoder.from_json(enc.to_json())
    assert (enc.transform(t.vocab.ids, t) != again.transform(t.vocab.ids, t)).nnz == 0


def test_padded_and_history_bags():
    rows = sp.csr_matrix(np.array([[0, 2.0, 0, 3.0], [0, 0, 0, 0], [1.0, 0, 0, 0]], np.float32))
    idx, val, fld = padded(rows, np.array([0, 0, 1, 1]), pad_index=3)
    np.testing.assert_array_equal(idx, [[1, 3], [3, 3], [0, 3]])
    np.testing.assert_allclose(val, [[2, 3], [0, 0], [1, 0]])
    np.testing.assert_array_equal(fld[0], [0, 1])
    bags, lens = history_bags(rows, np.array([0, 2]))
    np.testing.assert_array_equal(bags, [[2, 4], [1, 0]])
    np.testing.assert_array_equal(lens, [2, 1])


def test_bad_params():
    with pytest.raises(ConfigError, match="pooling='max'"):
        FieldEncoder(pooling="max")
    with pytest.raises(ConfigError, match="hash_buckets must be a positive integer, got 0"):
        FieldEncoder(hash_buckets=0)
    with pytest.raises(ConfigError, match="nothing to encode"):
        FieldEncoder(use_id=False).fit(Vocab(["a"]), None)
