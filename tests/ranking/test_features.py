"""Candidate feature assembly against hand computations."""

import numpy as np
import polars as pl
import pytest

from shortlist.data import FeatureTable, Interactions
from shortlist.errors import NotFittedError
from shortlist.models import Popularity
from shortlist.ranking import FeatureAssembler
from shortlist.retrieval import Candidates, Request


@pytest.fixture
def data():
    df = pl.DataFrame({"u": [0, 0, 1, 1, 2], "i": [0, 1, 1, 2, 2], "t": [0, 86400, 0, 86400, 2 * 86400]})
    return Interactions.from_frame(df, user="u", item="i", time="t")


def test_columns_match_hand_computation(data):
    ft = FeatureTable(data.items)
    ft.add_multi("genres", [["a"], ["a", "b"], ["b"]])
    ft.add_categorical("cat", ["x", "x", "y"])
    ft.add_numeric("price", [1.0, 2.0, 3.0])
    pop = Popularity().fit(data)
    fa = FeatureAssembler(sources=["s1"], scorers={"pop": pop}, item_features=ft, bag_columns=["genres"],
                          group_columns=["cat"], numeric_columns=["price"]).fit(data)
    cands = Candidates(np.array([1, 2]), np.array([0.5, 0.1]),
                       source_scores={"s1": np.array([0.5, np.nan], np.float32)},
                       source_ranks={"s1": np.array([0, -1])})
    x = fa.transform(Request(user_index=0), cands)
    row = dict(zip(fa.feature_names, x.T))
    assert x.shape == (2, len(fa.feature_names))
    np.testing.assert_allclose(row["src_s1_score"], [0.5, np.nan])
    np.testing.assert_allclose(row["src_s1_rank"], [0, np.nan])
    np.testing.assert_allclose(row["n_sources"], [1, 0])
    np.testing.assert_allclose(row["model_pop"], [2, 2])           # items 1 and 2 have two users each
    np.testing.assert_allclose(row["model_pop_rank"], [0, 1])       # tie: first candidate first
    np.testing.assert_allclose(row["item_log_popularity"], np.log1p([2, 2]))
    np.testing.assert_allclose(row["user_log_activity"], np.log1p([2, 2]))
    np.testing.assert_allclose(row["item_days_since_last_seen"], [1.0, 0.0])  # now = day 2
    np.testing.assert_allclose(row["item_price"], [2.0, 3.0])
    np.testing.assert_allclose(row["share_cat"], [1.0, 0.0])        # user 0's history is all category x
    # user 0 profile = a/1 + (a+b)/sqrt2, normalised; cosine with item 1 (a+b)/sqrt2 and item 2 (b)
    prof = np.array([1 + 1 / np.sqrt(2), 1 / np.sqrt(2)])
    prof /= np.linalg.norm(prof)
    np.testing.assert_allclose(row["match_genres"], [prof @ np.array([1, 1]) / np.sqrt(2), prof[1]], rtol=1e-5)


def test_anonymous_history_and_unfitted(data):
    fa = FeatureAssembler(scorers={"pop": Popularity().fit(data)})
    with pytest.raises(NotFittedError):
        fa.transform(Request(), Candidates.empty())
    fa.fit(data)
    x = fa.transform(Request(history=np.array([0])), Candidates(np.array([2]), np.array([1.0])))
    assert dict(zip(fa.feature_names, x[0]))["user_log_activity"] == pytest.approx(np.log1p(1))


def test_within_request_matches_numpy_reference():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from shortlist.ranking.features import _within_request

    def reference(values):
        missing = np.isnan(values)
        if values.size == 0 or missing.all():
            return np.full(values.size, np.nan, np.float32), np.full(values.size, np.nan, np.float32)
        present = values[~missing].astype(np.float64)
        mu, sd = present.mean(), present.std()
        z = ((values - mu) / (sd if sd > 0 else 1.0)).astype(np.float32)
        order = np.argsort(np.where(missing, np.inf, -values), kind="stable")
        rank = np.empty(values.size, np.float32)
        rank[order] = np.arange(values.size, dtype=np.float32) / max(values.size - 1, 1)
        return z, rank

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from([np.nan, -2.5, -0.0, 0.0, 1.0, 1.0, 3.25, 7.0]), max_size=30))
    def check(values):
        v = np.asarray(values, np.float32)
        got, want = _within_request(v), reference(v)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        np.testing.assert_array_equal(got[1], want[1])

    check()
