"""ANNIndex: exact search equals brute force, approximate kinds reach high recall, filters hold."""

from __future__ import annotations

import numpy as np
import pytest

from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.retrieval import ann as ann_module
from shortlist.retrieval.ann import ANNIndex


def clustered(n: int, dim: int = 32, n_clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    labels = rng.integers(0, n_clusters, n)
    return (centers[labels] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def brute(q: np.ndarray, x: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(x.shape[0]) if rows is None else rows
    s = q @ x[rows].T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return rows[order], np.take_along_axis(s, order, axis=1)


def make(kind: str = "exact", metric: str = "ip", **params) -> ANNIndex:
    """A small, fast-building index (one thread: the test machine is shared)."""
    params.setdefault("threads", 1)
    params.setdefault("ef_construction", 64)
    return ANNIndex(kind, metric, **params)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = clustered(4000)
    q = clustered(50, seed=1)
    return x, q


def test_exact_equals_brute_force(data):
    x, q = data
    idx, sc = make("exact").build(x).search(q, 20)
    bi, bs = brute(q, x, 20)
    np.testing.assert_allclose(sc, bs, rtol=1e-4, atol=1e-4)
    # same sets (ties in float scores could swap neighbours of equal score)
    assert recall(idx, bi) == 1.0


def test_cosine_normalizes_items_and_queries(data):
    x, q = data
    x = x * np.random.default_rng(3).uniform(0.1, 10, (x.shape[0], 1)).astype(np.float32)
    idx, sc = make("exact", "cosine").build(x).search(q, 10)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    bi, bs = brute(qn, xn, 10)
    assert recall(idx, bi) == 1.0
    np.testing.assert_allclose(sc, bs, rtol=1e-4, atol=1e-4)
    assert sc.max() <= 1.0 + 1e-5


@pytest.mark.parametrize("kind,params", [("hnsw", {"M": 16}), ("ivf", {"nlist": 64, "nprobe": 8}), ("pq", {})])
def test_approximate_recall_on_clustered_data(data, kind, params):
    x, q = data
    idx, _ = make(kind, **params).build(x).search(q, 10)
    assert recall(idx, brute(q, x, 10)[0]) >= 0.9


def test_search_time_parameters_change_the_search(data):
    x, q = data
    index = make("ivf", nlist=64, nprobe=1).build(x)
    truth = brute(q, x, 50)[0]
    low = recall(index.search(q, 50)[0], truth)
    high = recall(index.search(q, 50, nprobe=64)[0], truth)
    assert high == 1.0 and low < high  # probing every cell is exact
    pq_raw = recall(make("pq", refine=1).build(x).search(q, 50)[0], truth)
    pq_refined = recall(make("pq", refine=4).build(x).search(q, 50)[0], truth)
    assert pq_refined > pq_raw and pq_refined >= 0.95  # exact re-scoring of 4x the codes' top
    hnsw = make("hnsw", M=8, ef_search=16).build(x)
    assert recall(hnsw.search(q, 50, ef_search=400)[0], truth) >= recall(hnsw.search(q, 50)[0], truth)


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf", "pq"])
@pytest.mark.parametrize("every", [3, 97])  # dense filter (in-search selector) and sparse one (scan)
def test_allowed_mask_never_returns_disallowed(data, kind, every):
    x, q = data
    mask = np.zeros(x.shape[0], bool)
    mask[::every] = True
    index = make(kind, nlist=64, nprobe=64).build(x)
    idx, sc = index.search(q, 15, allowed=mask)
    got = idx[idx >= 0]
    assert got.size > 0 and mask[got].all()
    bi, bs = brute(q, x, 15, rows=np.flatnonzero(mask))
    assert recall(idx, bi) >= (1.0 if kind in ("exact", "pq") else 0.9)  # pq filters by an exact scan
    if kind in ("exact", "pq"):
        np.testing.assert_allclose(sc, bs, rtol=1e-4, atol=1e-4)
    # index arrays work as well as masks
    idx2, _ = index.search(q, 15, allowed=np.flatnonzero(mask))
    assert mask[idx2[idx2 >= 0]].all()


def test_padding_when_k_exceeds_items():
    x = clustered(30, dim=8)
    idx, sc = make("exact").build(x).search(x[:2], 40)
    assert idx.shape == (2, 40)
    assert (idx[:, :30] >= 0).all() and (idx[:, 30:] == -1).all()
    assert np.isneginf(sc[:, 30:]).all()
    mask = np.zeros(30, bool)
    mask[[1, 5]] = True
    idx, sc = make("hnsw").build(x).search(x[:1], 5, allowed=mask)
    assert sorted(idx[0, :2]) == [1, 5] and (idx[0, 2:] == -1).all()
    idx, _ = make("exact").build(x).search(x[:1], 5, allowed=np.zeros(30, bool))
    assert (idx == -1).all()


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf", "pq"])
def test_save_load_round_trip(tmp_path, data, kind):
    x, q = data
    index = make(kind, "cosine", nlist=32, ef_search=64).build(x)
    before = index.search(q, 10, allowed=np.arange(0, 4000, 2))
    index.save(tmp_path / "ix")
    files = {"index.faiss", "model.json"} | ({"arrays.npz"} if kind == "pq" else set())
    assert {p.name for p in (tmp_path / "ix").iterdir()} == files
    loaded = ANNIndex.load(tmp_path / "ix")
    assert loaded.params() == index.params() and len(loaded) == 4000
    after = loaded.search(q, 10, allowed=np.arange(0, 4000, 2))
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1])
    np.testing.assert_array_equal(index.search(q, 10)[0], loaded.search(q, 10)[0])


def test_pq_scores_are_exact_after_refine(data):
    """Re-scored pq results carry the true inner products, best first, on odd dimensions too."""
    x, q = data
    # one 4-bit code per dimension (default) finds >= 90 %; 4 dimensions per code are coarser
    for xs, qs, m, least in ((x, q, None, 0.95), (x[:, :7], q[:, :7], None, 0.9), (x, q, 8, 0.45)):
        idx, sc = make("pq", pq_m=m, refine=3).build(xs).search(qs, 25)
        np.testing.assert_allclose(sc, np.einsum("qkd,qd->qk", xs[idx], qs), rtol=1e-4, atol=1e-4)
        assert (np.diff(sc, axis=1) <= 1e-6).all()
        assert recall(idx, brute(qs, xs, 25)[0]) >= least


def test_numpy_backend_without_faiss(tmp_path, data, monkeypatch):
    x, q = data
    monkeypatch.setattr(ann_module, "faiss", None)
    with pytest.raises(ConfigError, match="needs faiss"):
        ANNIndex("hnsw")
    index = make("exact").build(x)
    idx, _sc = index.search(q, 10)
    bi, _bs = brute(q, x, 10)
    assert recall(idx, bi) == 1.0
    mask = np.arange(x.shape[0]) % 5 == 0
    assert mask[index.search(q, 10, allowed=mask)[0]].all()
    index.save(tmp_path / "np")
    np.testing.assert_array_equal(ANNIndex.load(tmp_path / "np").search(q, 10)[0], idx)


def test_errors(tmp_path, data):
    x, q = data
    with pytest.raises(ConfigError, match="unknown ANN index kind 'lsh'"):
        ANNIndex("lsh")
    with pytest.raises(ConfigError, match="refine must be a number >= 1"):
        ANNIndex("pq", refine=0.5)
    with pytest.raises(ConfigError, match="pq_m=5 does not divide the dimension 32"):
        ANNIndex("pq", pq_m=5).build(x)
    with pytest.raises(ConfigError, match="metric"):
        ANNIndex("exact", "l2")
    with pytest.raises(ConfigError, match="M must be a positive integer, got 0"):
        ANNIndex("hnsw", M=0)
    with pytest.raises(NotFittedError, match="build"):
        ANNIndex().search(q, 5)
    index = make().build(x)
    with pytest.raises(DataError, match="dimension 7 but the index holds 32"):
        index.search(np.ones((1, 7)), 5)
    for bad_k in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="k must be a positive integer"):
            index.search(q, bad_k)
    with pytest.raises(DataError, match="at least one row"):
        ANNIndex().build(np.zeros((0, 4)))
    with pytest.raises(DataError, match="NaN"):
        ANNIndex().build(np.full((3, 4), np.nan))
    with pytest.raises(DataError, match="allowed mask has shape"):
        index.search(q, 5, allowed=np.ones(3, bool))
    with pytest.raises(ConfigError, match="nlist=100 exceeds"):
        ANNIndex("ivf", nlist=100).build(x[:50])
    with pytest.raises(ModelFileError, match="rebuild"):
        ANNIndex.load(tmp_path / "missing")
