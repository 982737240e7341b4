"""Vocab: id <-> index mapping."""

import numpy as np
import pytest

from shortlist.data import Vocab
from shortlist.errors import DataError, UnknownIdError


def test_from_values_orders_by_first_appearance():
    vocab, idx = Vocab.from_values(["b", "a", "b", "c", "a"])
    assert vocab.ids.tolist() == ["b", "a", "c"]
    assert idx.tolist() == [0, 1, 0, 2, 1]


def test_index_lookup_roundtrip_int_and_str():
    rng = np.random.default_rng(0)
    ids = rng.permutation(10_000) * 7
    vocab = Vocab(ids)
    q = rng.choice(ids, 500)
    idx = vocab.index(q)
    assert np.array_equal(vocab.lookup(idx), q)
    assert np.array_equal(ids[idx], q)
    svocab = Vocab([f"u{i}" for i in ids])
    assert svocab.index("u14") == int(np.flatnonzero(ids == 14)[0])


def test_str_query_on_int_vocab():
    vocab = Vocab([10, 42, 7])
    assert vocab.index("42") == 1
    assert "7" in vocab and "x" not in vocab


def test_unknown_ids_raise_or_map_to_minus_one():
    vocab = Vocab(["a", "b"])
    with pytest.raises(UnknownIdError, match=r"unknown user \['zz'\]") as info:
        vocab.index(["a", "zz"], what="user")
    assert info.value.ids == ["zz"]
    assert vocab.index(["a", "zz"], missing="ignore").tolist() == [0, -1]


def test_extend_keeps_existing_indices():
    vocab = Vocab(["a", "b"])
    bigger = vocab.extend(["c", "a", "d", "c"])
    assert bigger.ids.tolist() == ["a", "b", "c", "d"]
    assert vocab.extend(["a"]) is vocab


def test_duplicates_and_bad_ids_rejected():
    with pytest.raises(DataError, match="unique"):
        Vocab(["a", "a"])
    with pytest.raises(DataError, match="NaN"):
        Vocab.from_values(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="out of range"):
        Vocab(["a"]).lookup([3])


def test_persistence_roundtrip():
    for vocab in (Vocab([5, 3, 9]), Vocab(["x", "yy", "z"])):
        assert Vocab.from_json(vocab.to_json()) == vocab
        assert Vocab.from_arrays(vocab.to_arrays("p"), "p") == vocab
