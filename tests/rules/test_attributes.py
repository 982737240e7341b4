"""ItemAttributes: building from feature tables, checks, and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data.features import FeatureTable
from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.rules import ItemAttributes


def tables():
    items = FeatureTable(Vocab(np.array(["a", "b", "c", "d"])))
    items.add_categorical("genre", ["news", "gore", None, "news"])
    items.add_categorical("author", ["x", "y", "x", None])
    items.add_numeric("price", [1.0, np.nan, 3.0, 4.0])
    items.add_numeric("lat", [48.0, 49.0, 50.0, np.nan]).add_numeric("lon", [2.0, 2.0, 2.0, 2.0])
    items.add_numeric("day", [0.0, 1.0, 2.0, np.nan])
    items.add_numeric("nsfw", [0.0, 1.0, np.nan, 0.0])
    items.add_multi("warnings", [["violence"], [], ["violence", "drugs"], []])
    items.add_text("title", ["red shoe", "blue hat", "red shoe", ""])
    items.add_numeric("sku", [10.0, 11.0, 10.0, np.nan])
    users = FeatureTable(Vocab(np.array(["u0", "u1"])))
    users.add_numeric("home_lat", [1.0, np.nan]).add_numeric("home_lon", [2.0, 3.0])
    return items, users


def test_from_features_reads_every_kind_of_column():
    items, users = tables()
    seen = sp.csr_matrix(np.array([[0, 1, 0, 1]], np.float32))
    a = ItemAttributes.from_features(
        items,
        {
            "category": "genre",
            "creator": "author",
            "price": "price",
            "lat": "lat",
            "lon": "lon",
            "publish_time": "day",
            "time_origin": 1000.0,
            "time_unit_s": 86400.0,
            "sensitive": ["nsfw", "warnings"],
            "text": "title",
            "duplicate_group": "sku",
            "content_hash": "title",
            "vectors": "genre",
            "home_lat": "home_lat",
            "home_lon": "home_lon",
        },
        users=users,
        seen=seen,
    )
    assert a.n_items == 4 and a.vocab is items.vocab
    assert [a.category_names[c] if c >= 0 else None for c in a.category] == [
        "news",
        "gore",
        None,
        "news",
    ]
    assert a.creator.tolist()[3] == -1 and a.creator[0] == a.creator[2] != a.creator[1]
    np.testing.assert_array_equal(a.publish_time, [1000.0, 87400.0, 173800.0, np.nan])
    assert a.sensitive_names == ("nsfw", "drugs", "violence")
    np.testing.assert_array_equal(
        a.sensitive.toarray(), [[0, 0, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]]
    )
    assert a.duplicate_group.tolist() == [0, 1, 0, -1]
    assert a.content_hash[0] == a.content_hash[2] and a.content_hash[3] == -1
    assert sp.issparse(a.vectors)  # feature columns stay sparse
    np.testing.assert_allclose(np.linalg.norm(a.vectors.toarray(), axis=1), [1, 1, 0, 1], atol=1e-6)
    np.testing.assert_array_equal(a.home, [[1.0, 2.0], [np.nan, 3.0]])
    assert a.seen_items(0).tolist() == [1, 3] and a.seen_items(-1).size == 0


def test_from_features_errors_name_the_key_and_the_fix():
    items, _ = tables()
    with pytest.raises(
        ConfigError, match=r"price='cost': no such feature column; fix: use one of genre"
    ):
        ItemAttributes.from_features(items, {"price": "cost"})
    with pytest.raises(
        ConfigError, match=r"price='genre' is a categorical column; fix: map price to a numeric"
    ):
        ItemAttributes.from_features(items, {"price": "genre"})
    with pytest.raises(ConfigError, match=r"unknown key 'prize'.*did you mean 'price'"):
        ItemAttributes.from_features(items, {"prize": "price"})
    with pytest.raises(ConfigError, match="users=<user FeatureTable>"):
        ItemAttributes.from_features(items, {"home_lat": "home_lat", "home_lon": "home_lon"})


def test_array_constructor_checks_lengths_and_types():
    with pytest.raises(DataError, match="'price' has 2 rows, expected n_items=3"):
        ItemAttributes(3, price=[1.0, 2.0])
    with pytest.raises(DataError, match="'creator' must be integer codes"):
        ItemAttributes(2, creator=np.array(["x", "y"]))
    a = ItemAttributes(3, creator=np.array([0, 2, -1]))
    assert a.creator_names == ("0", "1", "2") and a.has("creator") and not a.has("price")
    assert "creator" in repr(a)
    with pytest.raises(
        ConfigError, match=r"needs the item attribute 'price'.*\{'price': '<column>'\}"
    ):
        a.require("price", "price_range")
