"""Real-dataset loaders: sizes from each SOURCE.md, and values checked against a plain csv parse."""

from __future__ import annotations

import csv
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from shortlist.data import Dataset
from shortlist.data.datasets import (
    DATASETS,
    FORMATS,
    detect_format,
    load_dataset,
    sha256_of,
    verify_files,
)
from shortlist.errors import ChecksumError, ConfigError, DataError, DatasetFormatError
from tests.conftest import shared_dataset


def _rows(path: Path, sep: str, *, header: bool, encoding: str = "utf-8") -> list[list[str]]:
    """Independent reader: the csv module, no polars."""
    with open(path, encoding=encoding, newline="") as f:
        if sep == ",":
            rows = list(csv.reader(f))
        else:
            rows = [line.rstrip("\n").split(sep) for line in f if line.strip()]
    return rows[1:] if header else rows


@pytest.fixture(scope="module")
def ml100k() -> Dataset:
    return load_dataset(shared_dataset("ml-100k"))


@pytest.fixture(scope="module")
def mlsmall() -> Dataset:
    return load_dataset(shared_dataset("ml-latest-small"))


@pytest.fixture(scope="module")
def lastfm() -> Dataset:
    return load_dataset(shared_dataset("lastfm-2k"))


# -- format detection ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ml-100k", "ml-latest-small", "lastfm-2k"])
def test_detect_format_of_shared_folders(name):
    assert detect_format(shared_dataset(name)) == name


def test_unknown_folder_names_the_files_it_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetFormatError) as exc:
        detect_format(tmp_path)
    msg = str(exc.value)
    for f in ("u.data", "ratings.csv", "user_artists.dat"):
        assert f in msg
    assert "Interactions.from_file" in msg  # the fix


def test_parent_folder_error_points_at_dataset_subfolder(tmp_path):
    sub = tmp_path / "my-ml"
    sub.mkdir()
    for f in ("u.data", "u.item", "u.user", "u.genre"):
        (sub / f).write_text("")
    with pytest.raises(DatasetFormatError, match=r"my-ml \(ml-100k\)"):
        detect_format(tmp_path)


def test_partial_folder_names_missing_files(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
    with pytest.raises(DatasetFormatError, match="lacks u.item, u.user, u.genre"):
        load_dataset(tmp_path)


def test_missing_folder_and_file_path(tmp_path):
    with pytest.raises(DataError, match="not found"):
        detect_format(tmp_path / "nope")
    f = tmp_path / "ratings.csv"
    f.write_text("a,b\n")
    with pytest.raises(DatasetFormatError, match="is a file"):
        detect_format(f)


# -- MovieLens 100K --------------------------------------------------------------------
def test_ml100k_sizes_and_default_binary(ml100k):
    it = ml100k.interactions
    assert (it.n_events, it.n_users, it.n_items) == (100_000, 943, 1682)
    assert str(it.weighting) == "binary"
    assert it.nnz == 100_000 and np.all(it.matrix.data == 1.0)
    assert ml100k.social is None


def test_ml100k_events_match_plain_parse(ml100k):
    rows = _rows(shared_dataset("ml-100k") / "u.data", "\t", header=False)
    it = ml100k.interactions
    users = it.users.lookup(it.user_index)
    items = it.items.lookup(it.item_index)
    got = sorted(zip(users.tolist(), items.tolist(), it.value.tolist(), it.timestamp.tolist()))
    want = sorted((int(u), int(i), float(r), int(t)) for u, i, r, t in rows)
    assert got == want


def test_ml100k_threshold_weighting_keeps_ratings_ge_4():
    rows = _rows(shared_dataset("ml-100k") / "u.data", "\t", header=False)
    data = load_dataset(shared_dataset("ml-100k"), weighting="threshold:4")
    assert data.interactions.nnz == sum(int(r[2]) >= 4 for r in rows) == 55_375
    user = data.interactions.users.index(196)
    row = data.interactions.matrix[user]
    want = {int(r[1]) for r in rows if r[0] == "196" and int(r[2]) >= 4}
    assert set(data.interactions.items.lookup(row.indices).tolist()) == want


def test_ml100k_user_features(ml100k):
    uf = ml100k.user_features
    rows = _rows(shared_dataset("ml-100k") / "u.user", "|", header=False)
    idx = ml100k.interactions.users.index(np.array([int(r[0]) for r in rows]))
    np.testing.assert_array_equal(uf.numeric("age")[idx], [float(r[1]) for r in rows])
    for col, k in (("gender", 2), ("occupation", 3), ("zip", 4)):
        codes, cats = uf.categorical(col)
        assert [cats[c] for c in codes[idx]] == [r[k] for r in rows]
    assert set(uf.categorical("gender")[1]) == {"F", "M"}
    assert len(uf.categorical("occupation")[1]) == 21


def test_ml100k_item_features(ml100k):
    folder = shared_dataset("ml-100k")
    rows = _rows(folder / "u.item", "|", header=False, encoding="latin-1")
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text().splitlines() if line]
    f, items = ml100k.item_features, ml100k.interactions.items
    idx = items.index(np.array([int(r[0]) for r in rows]))
    assert f.text("title")[idx].tolist() == [r[1] for r in rows]
    matrix, names = f.multi_hot("genres")
    assert list(names) == genres
    want = np.array([[int(x) for x in r[5:]] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(matrix.toarray()[idx], want)
    years = f.numeric("year")[idx]
    want_years = [float(r[2][-4:]) if r[2] else math.nan for r in rows]
    np.testing.assert_array_equal(years, np.asarray(want_years, np.float32))
    toy = items.index(1)
    assert f.text("title")[toy] == "Toy Story (1995)" and f.numeric("year")[toy] == 1995
    assert {names[j] for j in matrix[toy].indices} == {"Animation", "Children's", "Comedy"}
    assert int(np.isnan(f.numeric("year")).sum()) == 1  # item 267 "unknown" has no date


def test_ml100k_latin1_titles_decoded(ml100k):
    titles = ml100k.item_features.text("title").tolist()
    assert any("é" in t for t in titles)  # e.g. "Misérables, Les (1995)"


# -- MovieLens latest-small ------------------------------------------------------------
def test_mlsmall_sizes_and_values(mlsmall):
    it = mlsmall.interactions
    assert (it.n_events, it.n_users, it.n_items) == (100_836, 610, 9724)
    assert str(it.weighting) == "binary" and it.timestamp is not None
    assert sorted(set(it.value.tolist())) == [x / 2 for x in range(1, 11)]
    assert mlsmall.user_features is None
    assert mlsmall.summary()["catalog_items"] == 9742
    assert mlsmall.summary()["unrated_items_dropped"] == 18


def test_mlsmall_movies_features_match_plain_parse(mlsmall):
    rows = _rows(shared_dataset("ml-latest-small") / "movies.csv", ",", header=True)
    items, f = mlsmall.interactions.items, mlsmall.item_features
    ids = np.array([int(r[0]) for r in rows])
    rated = items.contains(ids)
    idx = items.index(ids[rated])
    kept = [r for r, k in zip(rows, rated) if k]
    assert f.text("title")[idx].tolist() == [r[1] for r in kept]
    matrix, names = f.multi_hot("genres")
    got = [{names[j] for j in matrix[i].indices} for i in idx]
    want = [set(r[2].split("|")) - {"(no genres listed)"} for r in kept]
    assert got == want
    toy = items.index(1)
    assert f.numeric("year")[toy] == 1995
    assert int(np.isnan(f.numeric("year")).sum()) == 12  # titles like "Babylon 5" carry no year


def test_mlsmall_tags_lowercased_counts(mlsmall):
    rows = _rows(shared_dataset("ml-latest-small") / "tags.csv", ",", header=True)
    assert len(rows) == 3683
    items = mlsmall.interactions.items
    known = set(items.ids.tolist())
    want = Counter((int(r[1]), r[2].strip().lower()) for r in rows if int(r[1]) in known)
    matrix, names = mlsmall.item_features.multi_hot("tags")
    coo = matrix.tocoo()
    got = Counter({(int(items.lookup(i)), names[j]): int(v) for i, j, v in zip(coo.row, coo.col, coo.data)})
    assert got == want
    m = items.index(60756)
    assert {"funny", "highly quotable"} <= {names[j] for j in matrix[m].indices}
    assert all(n == n.lower() for n in names)


# -- Last.fm 2K ------------------------------------------------------------------------
def test_lastfm_sizes_and_log_weighting(lastfm):
    it = lastfm.interactions
    assert (it.n_events, it.n_users, it.n_items) == (92_834, 1892, 17_632)
    assert str(it.weighting) == "log" and it.timestamp is None
    rows = _rows(shared_dataset("lastfm-2k") / "user_artists.dat", "\t", header=True)
    sample = rows[::997]
    u = it.users.index(np.array([int(r[0]) for r in sample]))
    i = it.items.index(np.array([int(r[1]) for r in sample]))
    got = np.asarray(it.matrix[u, i]).ravel()
    np.testing.assert_allclose(got, [math.log1p(int(r[2])) for r in sample], rtol=1e-6)
    assert it.matrix[it.users.index(2), it.items.index(51)] == pytest.approx(math.log1p(13883))


def test_lastfm_other_weighting():
    data = load_dataset(shared_dataset("lastfm-2k"), weighting="value")
    it = data.interactions
    assert it.matrix[it.users.index(2), it.items.index(51)] == 13883


def test_lastfm_social_graph(lastfm):
    s = lastfm.social
    n = lastfm.interactions.n_users
    assert s.shape == (n, n) and s.nnz == 25_434
    assert (s != s.T).nnz == 0 and s.diagonal().sum() == 0
    rows = _rows(shared_dataset("lastfm-2k") / "user_friends.dat", "\t", header=True)
    assert len(rows) == 25_434
    users = lastfm.interactions.users
    want = {(int(a), int(b)) for a, b in rows}
    coo = s.tocoo()
    got = {(int(users.lookup(a)), int(users.lookup(b))) for a, b in zip(coo.row, coo.col)}
    assert got == want


def test_lastfm_friends_of_unknown_users_dropped():
    from shortlist.data import Vocab
    from shortlist.data.datasets.lastfm import friends_matrix

    users = Vocab(np.array([10, 20, 30]))
    m, dropped = friends_matrix(users, np.array([10, 20, 10, 99, 20]), np.array([20, 10, 30, 10, 20]))
    assert dropped == 2  # (99, 10) unknown user, (20, 20) self loop
    np.testing.assert_array_equal(m.toarray(), [[0, 1, 1], [1, 0, 0], [1, 0, 0]])


def test_lastfm_tags_and_names(lastfm):
    folder = shared_dataset("lastfm-2k")
    tag_value = {int(r[0]): r[1].strip().lower() for r in _rows(folder / "tags.dat", "\t", header=True,
                                                                 encoding="latin-1")}
    items = lastfm.interactions.items
    known = set(items.ids.tolist())
    want = Counter()
    for r in _rows(folder / "user_taggedartists.dat", "\t", header=True):
        if int(r[1]) in known:
            want[(int(r[1]), tag_value[int(r[2])])] += 1
    matrix, names = lastfm.item_features.multi_hot("tags")
    coo = matrix.tocoo()
    got = Counter({(int(items.lookup(i)), names[j]): int(v) for i, j, v in zip(coo.row, coo.col, coo.data)})
    assert got == want
    assert matrix.sum() == 186_479 - lastfm.summary()["tag_assignments_dropped"]
    names_col = lastfm.item_features.text("name")
    assert names_col[items.index(1)] == "MALICE MIZER"
    artists = _rows(folder / "artists.dat", "\t", header=True)
    idx = items.index(np.array([int(r[0]) for r in artists]))
    assert names_col[idx].tolist() == [r[1] for r in artists]


# -- registry and file checksums -------------------------------------------------------
@pytest.mark.parametrize("name", ["ml-100k", "ml-latest-small", "lastfm-2k"])
def test_shared_copies_match_registry_checksums(name):
    assert verify_files(shared_dataset(name), name) == DATASETS[name].files


def test_verify_files_detects_a_changed_file(tmp_path):
    src = shared_dataset("ml-100k")
    for f in DATASETS["ml-100k"].files:
        shutil.copy(src / f, tmp_path / f)
    with open(tmp_path / "u.data", "a") as fh:
        fh.write("1\t1\t5\t0\n")
    with pytest.raises(ChecksumError) as exc:
        verify_files(tmp_path, "ml-100k")
    assert "u.data" in str(exc.value) and sha256_of(tmp_path / "u.data") in str(exc.value)
    with pytest.raises(ConfigError, match="known datasets"):
        verify_files(tmp_path, "ml-1b")


def test_registry_entries_are_complete():
    for name, info in DATASETS.items():
        assert info.name == name and info.format in FORMATS
        assert info.url.startswith("https://") and info.url.endswith(".zip")
        assert info.sha256 is None or len(info.sha256) == 64
        assert "commercial" in info.licence
