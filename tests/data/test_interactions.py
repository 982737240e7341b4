"""Interactions: constructors, weighting schemes and bad input."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions, Weighting
from shortlist.errors import ConfigError, DataError


@pytest.fixture
def frame():
    return pl.DataFrame({
        "user": ["a", "a", "a", "b", "b", "c"],
        "item": [1, 1, 2, 2, 3, 1],
        "rating": [4.0, 2.0, 5.0, 3.0, 1.0, 4.0],
        "ts": [100, 200, 300, 400, 500, 600],
    })


def dense(inter):
    return inter.matrix.toarray()


def test_from_frame_polars_and_pandas_agree(frame):
    a = Interactions.from_frame(frame, user="user", item="item", value="rating", time="ts")
    b = Interactions.from_frame(frame.to_pandas(), user="user", item="item", value="rating", time="ts")
    assert a.users.ids.tolist() == ["a", "b", "c"] and a.items.ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(dense(a), dense(b))
    assert a.matrix.dtype == np.float32 and a.n_events == 6
    np.testing.assert_array_equal(a.timestamp, frame["ts"].to_numpy())


def test_weighting_schemes_match_hand_computation(frame):
    base = Interactions.from_frame(frame, user="user", item="item", value="rating", time="ts")
    # cell (a,1) has events with values 4 and 2 at t=100, 200
    expected = {
        "binary": [[1, 1, 0], [0, 1, 1], [1, 0, 0]],
        "count": [[2, 1, 0], [0, 1, 1], [1, 0, 0]],
        "value": [[6, 5, 0], [0, 3, 1], [4, 0, 0]],
        "log": np.log1p([[6, 5, 0], [0, 3, 1], [4, 0, 0]]),
        "threshold:4": [[1, 1, 0], [0, 0, 0], [1, 0, 0]],
    }
    for scheme, want in expected.items():
        np.testing.assert_allclose(dense(base.with_weighting(scheme)), want, rtol=1e-6)
    decayed = dense(base.with_weighting(Weighting(kind="time-decay", half_life=100.0)))
    # now = 600: (a,1) = 4*0.5**5 + 2*0.5**4
    assert decayed[0, 0] == pytest.approx(4 * 0.5**5 + 2 * 0.5**4)
    assert decayed[2, 0] == pytest.approx(4.0)


def test_weighting_parse_errors():
    with pytest.raises(ConfigError, match="unknown weighting 'squared'"):
        Weighting.parse("squared")
    with pytest.raises(ConfigError, match="half_life"):
        Weighting.parse("time-decay:-3")
    with pytest.raises(ConfigError, match="not a number"):
        Weighting.parse("threshold:abc")


def test_time_decay_needs_timestamps(frame):
    inter = Interactions.from_frame(frame, user="user", item="item", value="rating", weighting="time-decay:10")
    with pytest.raises(DataError, match="needs timestamps"):
        _ = inter.matrix


def test_from_file_csv_tsv_parquet(tmp_path, frame):
    ref = dense(Interactions.from_frame(frame, user="user", item="item", value="rating", weighting="value"))
    frame.write_csv(tmp_path / "x.csv")
    frame.write_csv(tmp_path / "x.tsv", separator="\t")
    frame.write_parquet(tmp_path / "x.parquet")
    for name in ("x.csv", "x.tsv", "x.parquet"):
        inter = Interactions.from_file(tmp_path / name, columns={"user": "user", "item": "item", "weight": "rating"},
                                       weighting="value")
        np.testing.assert_array_equal(dense(inter), ref)


def test_from_matrix_roundtrip():
    m = sp.random(20, 15, density=0.3, format="csr", random_state=1, dtype=np.float32)
    inter = Interactions.from_matrix(m)
    np.testing.assert_allclose(dense(inter), m.toarray())
    assert inter.n_users == 20 and inter.n_items == 15
    with pytest.raises(DataError, match="scipy.sparse"):
        Interactions.from_matrix(m.toarray())
    with pytest.raises(DataError, match="no non-zero"):
        Interactions.from_matrix(sp.csr_matrix((3, 3)))


@pytest.mark.parametrize(
    "df, kwargs, match",
    [
        (pl.DataFrame({"user": [], "item": []}), {}, "empty"),
        (pl.DataFrame({"usr": [1], "item": [2]}), {}, "column\\(s\\) not found: user='user'"),
        (pl.DataFrame({"user": [1, 2], "item": [2, 3], "w": [1.0, float("inf")]}), {"value": "w"}, "NaN or infinite"),
        (pl.DataFrame({"user": [1, 2], "item": [2, 3], "w": [1.0, -2.0]}), {"value": "w"}, "negative"),
        (pl.DataFrame({"user": [None, None], "item": [2, 2]}), {}, "every row misses a value"),
        (pl.DataFrame({"user": [1], "item": [2], "w": ["high"]}), {"value": "w"}, "expected numbers"),
    ],
)
def test_bad_input_names_problem_and_fix(df, kwargs, match):
    with pytest.raises(DataError, match=match):
        Interactions.from_frame(df, user="user", item="item", **kwargs)


def test_rows_with_missing_values_are_dropped_with_one_note():
    df = pd.DataFrame({"user": ["a", None, "b", "c", "d"], "item": [1, 2, 3, 4, None],
                       "r": [5.0, 4.0, float("nan"), 3.0, 2.0]})
    inter = Interactions.from_frame(df, user="user", item="item", rating="r")
    assert inter.n_events == 2
    assert sorted(inter.users.ids.tolist()) == ["a", "c"]
    assert inter.load_info["notes"][0] == (
        "dropped 3 rows with missing values (60.0 %; missing: 'user' 1, 'item' 1, 'r' 1)")


def test_drop_duplicates_keeps_one():
    df = pl.DataFrame({"user": [1, 1, 2], "item": [2, 2, 3]})
    inter = Interactions.from_frame(df, drop_duplicates=True, user="user", item="item")
    assert inter.n_events == 2
    assert inter.load_info["notes"] == [
        "dropped 1 exact duplicate rows (33.3 %), keeping one of each (--drop-duplicates)"
    ]


def test_exact_duplicates_are_no_error_but_repeated_interactions():
    # formerly an error: now two events in one cell, weight 2 under the default "count"
    inter = Interactions.from_frame(pl.DataFrame({"user": [1, 1], "item": [2, 2]}), user="user", item="item")
    assert inter.n_events == 2 and str(inter.weighting) == "count"
    assert dense(inter).tolist() == [[2.0]]


def test_genuine_repeats_with_distinct_timestamps_are_kept():
    df = pd.DataFrame({"user": [1, 1], "item": [2, 2], "t": [10, 20]})
    inter = Interactions.from_frame(df, user="user", item="item", time="t", weighting="count")
    assert dense(inter).tolist() == [[2.0]]


@pytest.mark.parametrize("texts, fmt", [
    (["2021-02-24 19:41:00", "2020-09-05 08:00:00"], None),  # ISO, inferred
    (["02/24/2021 19:41", "09/05/2020 08:00"], "%m/%d/%Y %H:%M"),  # month first
    (["24/02/2021 19:41", "05/09/2020 08:00"], "%d/%m/%Y %H:%M"),  # day first: 24 cannot be a month
    (["24.02.2021", "05.09.2020"], "%d.%m.%Y"),
])
def test_time_text_in_common_formats_reads_as_epoch_seconds(texts, fmt):
    from datetime import UTC, datetime

    df = pl.DataFrame({"user": [1, 2], "item": [3, 4], "t": texts})
    inter = Interactions.from_frame(df, user="user", item="item", time="t")
    parse = (lambda t: datetime.fromisoformat(t)) if fmt is None else (lambda t: datetime.strptime(t, fmt))
    want = [int(parse(t).replace(tzinfo=UTC).timestamp()) for t in texts]
    assert inter.timestamp.tolist() == want


def test_time_text_in_no_known_format_names_the_formats():
    df = pl.DataFrame({"user": [1, 2], "item": [3, 4], "t": ["yesterday", "today"]})
    with pytest.raises(DataError, match=r"time column 't' is neither numeric nor a parsable date.*%m/%d/%Y"):
        Interactions.from_frame(df, user="user", item="item", time="t")


def test_ratings_below_zero_are_shifted_to_weights_from_one_with_a_note():
    df = pl.DataFrame({"user": [1, 1, 2, 3], "item": [1, 2, 1, 3], "r": [-10.0, 10.0, 0.0, -2.5]})
    inter = Interactions.from_frame(df, user="user", item="item", rating="r")
    assert sorted(inter.value.tolist()) == [1.0, 8.5, 11.0, 21.0]  # r + 10 + 1
    assert inter.load_info["notes"][0].startswith("ratings in 'r' run from -10 to 10: weights are rating - (-10) + 1")
    # --min-rating reads the scale as given, before the shift
    liked = Interactions.from_frame(df, user="user", item="item", rating="r", min_rating=0.0)
    assert sorted(liked.value.tolist()) == [0.0, 10.0]
