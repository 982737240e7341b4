"""Text tables in the separators spreadsheets and tools export, whatever the extension says."""

from __future__ import annotations

import pytest

from shortlist.data.frames import read_table, sniff_separator

ROWS = [("u1", "i1", 5), ("u1", "i2", 3), ("u2", "i1", 4)]


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".csv", ";"), (".csv", "\t"), (".csv", "|"),
                                         (".tsv", "\t"), (".tsv", ","), (".tsv", ";")])
def test_every_separator_reads_the_same_table(tmp_path, suffix, sep):
    path = tmp_path / f"events{suffix}"
    path.write_text(sep.join(["user", "item", "rating"]) + "\n"
                    + "".join(sep.join(map(str, r)) + "\n" for r in ROWS))
    df = read_table(path)
    assert df.columns == ["user", "item", "rating"]
    assert [tuple(r) for r in df.iter_rows()] == ROWS


def test_the_default_wins_when_the_header_has_it(tmp_path):
    # a comma file whose column names contain semicolons stays a comma file
    path = tmp_path / "odd.csv"
    path.write_text("user;id,item;id\na,b\n")
    assert sniff_separator(path, ",") == ","
    assert read_table(path).columns == ["user;id", "item;id"]


def test_a_single_column_keeps_the_default(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("user\na\n")
    assert sniff_separator(path, ",") == ","


def test_spaces_around_header_names_and_text_ids_are_not_part_of_them(tmp_path):
    from shortlist.data.loading import load_data

    path = tmp_path / "spaced.csv"
    path.write_text("user, item ,rating\n u1 ,a,5\nu1, b,3\n u2,a ,4\n")
    assert read_table(path).columns == ["user", "item", "rating"]
    data = load_data(str(path), columns="user=user,item=item,rating=rating").interactions
    assert sorted(data.users.ids.tolist()) == ["u1", "u2"]
    assert sorted(data.items.ids.tolist()) == ["a", "b"]
    assert data.n_events == 3
