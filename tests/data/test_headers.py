"""Header-less tables: a first row of numbers is data, columns are named by position, the names are reported."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from shortlist.data.headers import resolve_header
from shortlist.data.loading import load_data
from shortlist.errors import ConfigError

ROWS = "1,10,5,100\n1,20,3,101\n2,10,4,102\n2,30,1,103\n3,20,5,104\n3,30,2,105\n"


@pytest.fixture
def headerless(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(ROWS)
    return path


@pytest.mark.parametrize("columns, has_header", [("user=1,item=2", True), ("user=column_1,item=column_2", False),
                                                 ("user=1,item=2", False)])
def test_every_row_is_an_interaction(headerless, columns, has_header):
    dataset = load_data(headerless, columns=columns, has_header=has_header)
    data = dataset.interactions
    assert data.n_events == 6 and data.n_users == 3 and data.n_items == 3
    assert sorted(data.items.ids.tolist()) == [10, 20, 30]
    note = next(n for n in dataset.info["notes"] if "named" in n)
    assert note.endswith("its 4 columns are named column_1, column_2, column_3, column_4; using "
                         "user=column_1 (first value 1), item=column_2 (first value 10)")


def test_numbers_of_the_first_row_are_not_taken_as_column_names(headerless):
    # the first row is 1,10,...: before, user=1,item=10 matched it as a header and dropped an interaction
    with pytest.raises(ConfigError, match=r"item=10: the file has 4 columns; give a position from 1 to 4"):
        load_data(headerless, columns="user=1,item=10")


def test_names_on_a_headerless_file_get_the_fix(headerless):
    with pytest.raises(ConfigError, match=r"user=userId: the file has no header row \(--no-header\), so its "
                                          r"columns have no names; name them by position 1..4"):
        load_data(headerless, columns="user=userId,item=2", has_header=False)


def test_a_real_header_is_kept(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{i},4\n" for u, i in [(1, 10), (2, 10), (2, 20)]))
    assert resolve_header(path, {"user": "user", "item": "item"}, True) == ({"user": "user", "item": "item"}, True, "")
    data = load_data(path, columns="user=user,item=item").interactions
    assert data.n_events == 3 and np.array_equal(np.sort(data.users.ids), [1, 2])


def test_parquet_names_are_left_alone(tmp_path):
    path = tmp_path / "events.parquet"
    pl.DataFrame({"1": [1, 2], "2": [10, 20]}).write_parquet(path)
    assert resolve_header(path, {"user": "1", "item": "2"}, True) == ({"user": "1", "item": "2"}, True, "")
