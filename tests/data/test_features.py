"""FeatureTable: the four column kinds, alignment to a vocab, design matrix and persistence."""

import numpy as np
import polars as pl
import pytest

from shortlist.data import FeatureTable, Vocab
from shortlist.errors import DataError


@pytest.fixture
def table():
    return (FeatureTable(Vocab(["a", "b", "c"]))
            .add_categorical("cat", ["x", None, "y"])
            .add_multi("genres", [["g1", "g2"], [], ["g2"]])
            .add_numeric("price", [1.0, 3.0, np.nan])
            .add_text("title", ["red car", "", "blue boat"]))


def test_columns_and_design_matrix(table):
    codes, cats = table.categorical("cat")
    assert cats == ("x", "y") and codes.tolist() == [0, -1, 1]
    bag, tokens = table.multi_hot("genres")
    assert tokens == ("g1", "g2") and bag.toarray().tolist() == [[1, 1], [0, 0], [0, 1]]
    m = table.matrix().toarray()
    z = (np.array([1.0, 3.0]) - 2.0) / 1.0  # standardized price; NaN -> 0
    np.testing.assert_allclose(m, [[1, 0, 1, 1, z[0]], [0, 0, 0, 0, z[1]], [0, 1, 0, 1, 0.0]])
    assert table.text("title").tolist() == ["red car", "", "blue boat"]


def test_persistence_roundtrip(table):
    again = FeatureTable.from_arrays(table.to_arrays("f"), "f")
    assert again.kinds == table.kinds and again.vocab == table.vocab
    np.testing.assert_array_equal(again.matrix().toarray(), table.matrix().toarray())
    assert again.text("title").tolist() == table.text("title").tolist()


def test_from_frame_aligns_to_vocab():
    df = pl.DataFrame({"id": ["c", "a", "zz"], "cat": ["y", "x", "q"], "tags": ["t1|t2", "t2", "t3"]})
    t = FeatureTable.from_frame(df, Vocab(["a", "b", "c"]), id_column="id", categorical=["cat"],
                                multi={"tags": "|"})
    codes, cats = t.categorical("cat")
    assert [cats[c] if c >= 0 else None for c in codes] == ["x", None, "y"]  # "zz" ignored, "b" missing
    assert t.multi_hot("tags")[0].sum(axis=1).A1.tolist() == [1, 0, 2]


def test_bad_input():
    t = FeatureTable(Vocab(["a", "b"]))
    with pytest.raises(DataError, match="expected 2"):
        t.add_numeric("x", [1.0])
    with pytest.raises(DataError, match="infinite"):
        t.add_numeric("x", [1.0, np.inf])
    with pytest.raises(DataError, match="no feature 'nope'"):
        t.numeric("nope")
    with pytest.raises(DataError, match="not found"):
        FeatureTable.from_frame(pl.DataFrame({"id": ["a"]}), t.vocab, id_column="id", numeric=["price"])
