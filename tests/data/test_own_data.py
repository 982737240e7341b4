"""Loading data as users have it: rating role, repeated rows, --min-rating, --k-core, row order,
sequence files, notes on stderr, single-interaction entities and one-line errors for bad files."""

import argparse
import json

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from shortlist.cli.common import add_data_arguments, load_dataset_from_args, print_notes
from shortlist.cli.main import main
from shortlist.data import Dataset, FeatureTable, Interactions, load_data, random_holdout
from shortlist.data.datasets import detect_format, looks_like_sequences
from shortlist.data.loading import parse_columns
from shortlist.errors import ConfigError, DataError, DatasetFormatError
from tests.conftest import shared_dataset


def dense(inter):
    return inter.matrix.toarray()


def write_csv(path, **cols):
    pl.DataFrame(cols).write_csv(path)
    return path


# -- 1. the rating role -------------------------------------------------------------------
def test_parse_columns_knows_rating_and_refuses_two_strength_columns():
    assert parse_columns("user=u,item=i,rating=r") == {"user": "u", "item": "i", "rating": "r"}
    with pytest.raises(ConfigError, match="rating and weight"):
        parse_columns("user=u,item=i,rating=r,weight=w")


def test_rating_role_records_ratings_and_defaults_to_value_weighting(tmp_path):
    path = write_csv(tmp_path / "r.csv", u=[1, 1, 2], i=[10, 20, 10], r=[4.0, 2.0, 5.0])
    data = load_data(path, columns="user=u,item=i,rating=r")
    assert data.info["values"] == "ratings" and data.info["notes"] == []
    assert str(data.interactions.weighting) == "value"
    assert dense(data.interactions).tolist() == [[4.0, 2.0], [5.0, 0.0]]
    # an explicit weighting wins; the ratings stay in .value
    data = load_data(path, columns="user=u,item=i,rating=r", weighting="threshold:4")
    assert dense(data.interactions).tolist() == [[1.0, 0.0], [1.0, 0.0]]
    np.testing.assert_array_equal(data.interactions.value, [4.0, 2.0, 5.0])
    # from_file and from_frame take the role too
    inter = Interactions.from_file(path, columns={"user": "u", "item": "i", "rating": "r"})
    assert inter.load_info["values"] == "ratings"


def test_values_kind_for_weights_and_binary_data(tmp_path):
    path = write_csv(tmp_path / "w.csv", u=[1, 2], i=[10, 10], plays=[7, 3])
    weights = load_data(path, columns="user=u,item=i,weight=plays")
    assert weights.info["values"] == "weights"
    assert str(weights.interactions.weighting) == "binary"  # today's default for weight columns
    assert load_data(path, columns="user=u,item=i").info["values"] == "none"


def test_value_and_rating_together_is_an_error():
    df = pl.DataFrame({"u": [1], "i": [2], "r": [3.0]})
    with pytest.raises(DataError, match="both value='r' and rating='r'"):
        Interactions.from_frame(df, user="u", item="i", value="r", rating="r")


# -- 2. repeated rows ---------------------------------------------------------------------------
@pytest.fixture
def repeats():
    # cell (a, x) has three events (plays 5, 1, 2); every other cell one
    return pl.DataFrame({"u": ["a", "a", "a", "b", "a", "c"], "i": ["x", "x", "y", "x", "x", "z"],
                         "plays": [5, 1, 4, 3, 2, 6]})


def test_repeated_rows_count_by_default_and_keep_every_event(repeats):
    inter = Interactions.from_frame(repeats, user="u", item="i")
    assert inter.n_events == 6 and str(inter.weighting) == "count"
    assert dense(inter).tolist() == [[3, 1, 0], [1, 0, 0], [0, 0, 1]]
    np.testing.assert_array_equal(inter.user_index, [0, 0, 0, 1, 0, 2])
    assert inter.load_info["notes"] == [
        ("2 repeated user-item rows (33.3 %) counted as repeated interactions: "
         "cell weight = number of events")
    ]


def test_repeated_rows_with_weights_sum_under_value_weighting(repeats):
    inter = Interactions.from_frame(repeats, user="u", item="i", value="plays", weighting="value")
    assert dense(inter).tolist() == [[8, 4, 0], [3, 0, 0], [0, 0, 6]]
    assert inter.load_info["notes"][0].endswith("cell weight = sum of their values")
    default = Interactions.from_frame(repeats, user="u", item="i", value="plays")
    assert str(default.weighting) == "count" and dense(default)[0, 0] == 3
    assert "weighting value or log uses the weight column" in default.load_info["notes"][0]


def test_repeated_ratings_keep_the_latest_by_time_else_by_row_order():
    df = pl.DataFrame({"u": [1, 1, 1, 2, 1], "i": [1, 1, 2, 1, 1], "r": [5.0, 2.0, 4.0, 3.0, 1.0],
                       "t": [30, 10, 20, 5, 20]})
    by_time = Interactions.from_frame(df, user="u", item="i", rating="r", time="t")
    # (1, 1) was rated 5 at t=30, 2 at t=10 and 1 at t=20: 5 is the latest
    assert dense(by_time).tolist() == [[5.0, 4.0], [3.0, 0.0]]
    np.testing.assert_array_equal(by_time.timestamp, [30, 20, 5])  # surviving rows keep their order
    assert by_time.load_info["notes"] == [
        "2 repeated user-item ratings (40.0 %): kept the latest rating of each pair (by time)"
    ]
    by_row = Interactions.from_frame(df.drop("t"), user="u", item="i", rating="r")
    assert dense(by_row).tolist() == [[1.0, 4.0], [3.0, 0.0]]  # the last row of (1, 1) says 1
    assert by_row.load_info["notes"][0].endswith("(by row order)")


def test_drop_duplicates_via_load_data_adds_a_note(tmp_path):
    path = write_csv(tmp_path / "d.csv", u=[1, 1, 1, 2], i=[5, 5, 6, 5], t=[1, 1, 2, 3])
    data = load_data(path, columns="user=u,item=i,time=t", drop_duplicates=True)
    assert data.interactions.n_events == 3
    assert data.info["notes"] == [("dropped 1 exact duplicate rows (25.0 %), keeping one of each "
                                   "(--drop-duplicates)")]
    # without the flag the same rows are repeated interactions
    data = load_data(path, columns="user=u,item=i,time=t")
    assert data.interactions.n_events == 4 and dense(data.interactions)[0, 0] == 2


def test_random_holdout_keeps_all_events_of_a_cell_on_one_side():
    rng = np.random.default_rng(3)
    n = 4000
    df = pl.DataFrame({"u": rng.integers(0, 60, n), "i": rng.integers(0, 40, n)})  # many repeats
    data = Interactions.from_frame(df, user="u", item="i")
    assert data.n_events - data.nnz > 1000
    for seed in range(5):
        split = random_holdout(data, 0.3, seed=seed)
        train_cells = split.train.matrix > 0
        test_cells = split.test.matrix > 0
        assert train_cells.multiply(test_cells).nnz == 0  # no cell on both sides
        assert split.train.n_events + split.test.n_events == n  # every event somewhere
        np.testing.assert_array_equal(dense(split.train) + dense(split.test), dense(data))


# -- 3. --min-rating and --weighting auto -----------------------------------------------------------
def test_min_rating_runs_before_the_repeat_rule(tmp_path):
    # user 1 rated item 1 with 5, then 1 (by row order); --min-rating 4 drops the 1 first,
    # so the 5 survives; user 2 only has low ratings and disappears from the vocab
    path = write_csv(tmp_path / "m.csv", u=[1, 1, 2, 1, 1], i=[1, 2, 1, 1, 3], r=[5.0, 4.0, 3.0, 1.0, 2.0])
    data = load_data(path, columns="user=u,item=i,rating=r", min_rating=4)
    inter = data.interactions
    assert inter.users.ids.tolist() == [1] and inter.items.ids.tolist() == [1, 2]
    assert dense(inter).tolist() == [[5.0, 4.0]]
    assert data.info["notes"] == ["dropped 3 rows with rating < 4 (60.0 %)"]


def test_min_rating_needs_a_rating_column(tmp_path):
    path = write_csv(tmp_path / "m.csv", u=[1], i=[1], w=[5.0])
    with pytest.raises(ConfigError, match="rating=COL"):
        load_data(path, columns="user=u,item=i,weight=w", min_rating=4)
    with pytest.raises(ConfigError, match="needs ratings"):
        load_data("synthetic:tiny", min_rating=4)
    with pytest.raises(ConfigError, match="must be a number"):
        load_data(path, columns="user=u,item=i", min_rating="high")


def test_min_rating_on_a_folder_keeps_features_aligned():
    folder = shared_dataset("ml-100k")
    full = load_data(folder)
    liked = load_data(folder, min_rating=4)
    assert liked.interactions.n_events == 55_375  # ratings >= 4 in u.data (docs/datasets.md)
    assert liked.info["notes"] == ["dropped 44,625 rows with rating < 4 (44.6 %)"]
    assert liked.interactions.n_users == len(liked.user_features.vocab)
    # the age of a kept user is the same before and after the vocab was rebuilt
    uid = liked.interactions.users.ids[-1]
    age = lambda d: d.user_features.numeric("age")[d.interactions.users.index(uid)]
    assert age(liked) == age(full)


def test_weighting_auto_loads_the_default_and_says_so(tmp_path, repeats):
    path = tmp_path / "r.csv"
    repeats.write_csv(path)
    data = load_data(path, columns="user=u,item=i", weighting="auto")
    assert data.info["weighting"] == "auto" and str(data.interactions.weighting) == "count"
    assert "weighting" not in load_data(path, columns="user=u,item=i").info


# -- 4. --k-core ---------------------------------------------------------------------------------
@pytest.fixture
def core_csv(tmp_path):
    # 2-core: D, E and F (F has one item three times) go, item 4 goes; then item 3 has only C,
    # so C3 goes, then C has one item, so C2 goes: A and B with items 1 and 2 remain
    rows = [("A", 1), ("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 2), ("C", 3), ("D", 3), ("E", 4),
            ("F", 1), ("F", 1), ("F", 1)]
    path = tmp_path / "core.csv"
    pl.DataFrame({"u": [r[0] for r in rows], "i": [r[1] for r in rows]}).write_csv(path)
    return path


def test_k_core_iterates_until_stable_and_rebuilds_vocabs(core_csv):
    data = load_data(core_csv, columns="user=u,item=i", k_core=2)
    inter = data.interactions
    assert inter.users.ids.tolist() == ["A", "B"] and inter.items.ids.tolist() == [1, 2]
    assert dense(inter).tolist() == [[2, 1], [1, 1]]
    assert inter.user_index.max() == 1 and inter.item_index.max() == 1
    assert data.info["notes"][-1] == (
        "k-core 2: removed 4 users, 2 items and 7 rows (58.3 %); 2 users and 2 items remain"
    )
    assert load_data(core_csv, columns="user=u,item=i", k_core=1).interactions.n_events == 12


def test_k_core_errors(core_csv):
    with pytest.raises(DataError, match="--k-core 3 leaves nothing.*smaller --k-core"):
        load_data(core_csv, columns="user=u,item=i", k_core=3)
    with pytest.raises(ConfigError, match="positive integer"):
        load_data(core_csv, columns="user=u,item=i", k_core=0)


def test_k_core_carries_features_and_social_along():
    inter = Interactions.from_frame(
        pl.DataFrame({"u": ["A", "A", "B", "B", "C"], "i": [1, 2, 1, 2, 1]}), user="u", item="i")
    users = FeatureTable(inter.users).add_numeric("age", [10.0, 20.0, 30.0])
    items = FeatureTable(inter.items).add_multi("tags", [["x"], ["y", "z"]])
    social = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], np.float32))
    core = Dataset("t", inter, users, items, social).k_core(2)  # item 1 has A, B, C; C has 1 item
    assert core.interactions.users.ids.tolist() == ["A", "B"]
    np.testing.assert_array_equal(core.user_features.numeric("age"), [10.0, 20.0])
    assert core.item_features.multi_hot("tags")[0].toarray().tolist() == [[1, 0, 0], [0, 1, 1]]
    assert core.social.toarray().tolist() == [[0, 1], [1, 0]]


# -- 5. row order as time ------------------------------------------------------------------------
def test_event_order_is_timestamp_else_row_position():
    df = pl.DataFrame({"u": [1, 1, 2], "i": [1, 2, 1], "t": [30, 10, 20]})
    timed = Interactions.from_frame(df, user="u", item="i", time="t")
    np.testing.assert_array_equal(timed.event_order, [30, 10, 20])
    plain = Interactions.from_frame(df, user="u", item="i")
    assert plain.timestamp is None
    assert plain.event_order.dtype == np.int64
    np.testing.assert_array_equal(plain.event_order, [0, 1, 2])
    np.testing.assert_array_equal(plain.subset(np.array([False, True, True])).event_order, [0, 1])


def test_info_time_says_timestamps_or_row_order(tmp_path):
    path = write_csv(tmp_path / "t.csv", u=[1, 2], i=[1, 1], t=[5, 6])
    assert load_data(path, columns="user=u,item=i,time=t").info["time"] == "timestamps"
    assert load_data(path, columns="user=u,item=i").info["time"] == "row order"


# -- 6. sequence files ---------------------------------------------------------------------------
@pytest.fixture
def seq_file(tmp_path):
    path = tmp_path / "seqs.txt"
    path.write_text("u1 a b a c\nu2 b\n\nu3 c c d\n")
    return path


def test_sequence_file_loads_without_columns(seq_file):
    data = load_data(seq_file)
    inter = data.interactions
    assert data.name == "seqs" and data.info["format"] == "sequence"
    assert inter.users.ids.tolist() == ["u1", "u2", "u3"]
    assert inter.items.ids.tolist() == ["a", "b", "c", "d"]
    assert inter.n_events == 8 and inter.timestamp is None and data.info["time"] == "row order"
    assert dense(inter).tolist() == [[2, 1, 1, 0], [0, 1, 0, 0], [0, 0, 2, 1]]
    # event_order gives each user's items in line order
    u1 = inter.user_index == 0
    order = np.argsort(inter.event_order[u1], kind="stable")
    assert inter.items.lookup(inter.item_index[u1][order]).tolist() == ["a", "b", "a", "c"]
    assert data.info["notes"] == [("2 repeated user-item rows (25.0 %) counted as repeated "
                                   "interactions: cell weight = number of events")]


def test_sequence_folder_and_integer_ids(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "log.txt").write_text("7 100 200 300\n8 300\n")
    (folder / "README.md").write_text("notes")
    assert detect_format(folder) == "sequence"
    data = load_data(folder)
    assert data.interactions.users.ids.tolist() == [7, 8]
    assert data.interactions.items.ids.tolist() == [100, 200, 300]
    assert data.info["notes"] == [] and data.info["format"] == "sequence"
    (folder / "other.txt").write_text("1 2 3\n4 5\n")
    with pytest.raises(DatasetFormatError, match="unknown dataset format"):
        detect_format(folder)


def test_sequence_detection_leaves_tables_alone(tmp_path):
    csv = write_csv(tmp_path / "a.csv", u=[1, 2], i=[3, 4])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 3\n2 4\n3 5\n")  # a fixed token count is a table, not sequences
    assert not looks_like_sequences(csv) and not looks_like_sequences(pairs)
    with pytest.raises(ConfigError, match="say which columns hold what"):
        load_data(pairs)


@pytest.mark.slow
def test_yelp_sequences_load_fast_with_the_published_counts():
    import time

    path = shared_dataset("yelp") / "Yelp.txt"
    t0 = time.perf_counter()
    data = load_data(path)
    seconds = time.perf_counter() - t0
    inter = data.interactions
    assert (inter.n_users, inter.n_items, inter.n_events) == (30431, 20033, 316354)
    assert seconds < 2.0
    assert data.info["notes"] == [("11,830 repeated user-item rows (3.7 %) counted as repeated "
                                   "interactions: cell weight = number of events")]
    first = path.read_text().split("\n", 1)[0].split()
    mine = inter.user_index == inter.users.index(int(first[0]))
    order = np.argsort(inter.event_order[mine], kind="stable")
    assert inter.items.lookup(inter.item_index[mine][order]).tolist() == [int(t) for t in first[1:]]
    assert load_data(path.parent).interactions.n_events == 316354


# -- notes on stderr -----------------------------------------------------------------------------
def test_cli_prints_notes_on_stderr_only(tmp_path, capsys, core_csv):
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    args = parser.parse_args(["--data", str(core_csv), "--columns", "user=u,item=i", "--k-core", "2"])
    data = load_dataset_from_args(args)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == data.info["notes"] and len(data.info["notes"]) == 2
    print_notes(Dataset("x", data.interactions, info={"notes": ["one", "two"]}))
    assert capsys.readouterr().err == "one\ntwo\n"


def test_evaluate_json_stays_clean_with_notes(tmp_path, capsys, repeats):
    path = tmp_path / "r.csv"
    repeats.write_csv(path)
    code = main(["evaluate", "--data", str(path), "--columns", "user=u,item=i", "--model", "popularity",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["n_interactions"] == 6
    assert err.strip().startswith("2 repeated user-item rows (33.3 %)")


# -- 7. single-interaction users and items -----------------------------------------------------------
def test_single_interaction_users_stay_in_train_and_models_work():
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}") for u in range(12) for i in rng.choice(8, 4, replace=False)]
    rows += [("solo", "rare"), ("solo2", "i0"), ("solo3", "lonely"), ("solo3", "lonely")]
    df = pl.DataFrame({"u": [r[0] for r in rows], "i": [r[1] for r in rows]})
    data = Interactions.from_frame(df, user="u", item="i")
    split = random_holdout(data, 0.5, seed=1)
    test_per_user = np.diff(split.test.matrix.indptr)
    cells_per_user = data.user_counts()
    # the rule: users with < 2 distinct items keep everything in train; the others give
    # round(0.5 * n) cells (at least 1, at most n - 1) to test
    want = np.where(cells_per_user < 2, 0,
                    np.minimum(np.maximum(1, np.round(0.5 * cells_per_user)), cells_per_user - 1))
    np.testing.assert_array_equal(test_per_user, want)
    for solo in ("solo", "solo2", "solo3"):
        assert test_per_user[data.users.index(solo)] == 0
    assert dense(split.train)[data.users.index("solo3"), data.items.index("lonely")] == 2

    from shortlist.models.registry import create_model

    queries = ["solo", "solo2", "solo3", "u0"]
    seen = split.train.matrix[data.users.index(queries)].toarray() > 0
    for name in ("popularity", "ease", "item-knn", "als"):
        model = create_model(name, {}).fit(split.train)
        recs = model.recommend(queries, k=3)
        assert recs.item_indices.shape == (4, 3), name
        for row, idx in enumerate(recs.item_indices):
            got = idx[idx >= 0]
            assert not seen[row, got].any(), f"{name} recommended a seen item to {queries[row]}"
            assert np.isfinite(recs.scores[row][idx >= 0]).all()
        if name == "popularity":  # ranks every unseen item, so all slots fill
            assert (recs.item_indices >= 0).all()


# -- 8. bad files: DataError naming the file, the problem and the fix ---------------------------------
@pytest.mark.parametrize(
    "name, content, columns, needles",
    [
        ("empty.csv", "", "user=u,item=i", ["empty.csv", "empty (0 bytes)", "header row"]),
        ("empty.txt", "", None, ["empty.txt", "empty (0 bytes)"]),
        ("header.csv", "u,i,r\n", "user=u,item=i", ["header.csv", "no rows", "--no-header"]),
        ("cols.csv", "u,i\n1,2\n", "user=user,item=i", ["cols.csv", "column(s) not found: user='user'",
                                                       "--columns"]),
        ("stars.csv", "u,i,r\n1,2,4\n1,3,four\n", "user=u,item=i,rating=r",
         ["stars.csv", "rating column 'r'", "'four'", "expected numbers"]),
        ("data.xlsx", "u,i\n1,2\n", "user=u,item=i", ["data.xlsx", "extension", ".csv"]),
        ("data.xlsx", "u,i\n1,2\n", None, ["data.xlsx", "extension", ".csv"]),
    ],
)
def test_bad_files_raise_data_error_naming_file_problem_and_fix(tmp_path, name, content, columns, needles):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as info:
        load_data(path, columns=columns)
    for needle in needles:
        assert needle in str(info.value)


def test_bad_file_is_one_line_on_the_cli(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    code = main(["evaluate", "--data", str(path), "--columns", "user=u,item=i", "--model", "popularity"])
    err = capsys.readouterr().err
    assert code == 2 and "empty (0 bytes)" in err and len(err.strip().splitlines()) == 1
