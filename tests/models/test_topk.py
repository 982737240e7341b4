"""Top-k kernel against a brute-force argsort, with exclusions, NaN scores and ties."""

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.models._kernels.topk import topk, topk_rows, topk_rows_serial


@pytest.mark.parametrize("kernel", [topk, topk_rows, topk_rows_serial])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_matches_brute_force(kernel, k):
    rng = np.random.default_rng(k)
    scores = rng.random((120, 3000)).astype(np.float32)
    scores[rng.integers(0, 120, 40), rng.integers(0, 3000, 40)] = np.nan
    scores[7, :50] = np.nan  # a NaN-led chunk must still be scanned
    excl = sp.random(120, 3000, density=0.02, format="csr", random_state=k)
    excl.sort_indices()
    idx, val = kernel(scores, k, excl.indptr.astype(np.int64), excl.indices.astype(np.int64))
    ref = scores.copy()
    ref[np.repeat(np.arange(120), np.diff(excl.indptr)), excl.indices] = -np.inf
    ref = np.nan_to_num(ref, nan=-np.inf)
    want = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(val, np.take_along_axis(ref, want, axis=1))


def test_ties_go_to_the_lower_column_and_empty_slots_pad():
    scores = np.array([[0.5, 0.9, 0.5, 0.9, 0.1]], np.float32)
    idx, val = topk(scores, 4, np.array([0, 1]), np.array([4]))
    assert idx.tolist() == [[1, 3, 0, 2]]
    idx, val = topk(scores, 7, np.array([0, 0]), np.zeros(0, np.int64))
    assert idx[0, 5:].tolist() == [-1, -1] and np.isneginf(val[0, 5:]).all()


@pytest.mark.parametrize("restrict", [False, True])
def test_threaded_batch_equals_brute_force(monkeypatch, restrict):
    """Batches large enough for the worker-thread path give the brute-force top-k, in order."""
    from shortlist.data import Interactions, Vocab
    from shortlist.models import batch_topk as base
    from shortlist.models.factor import FactorModel

    class Fixed(FactorModel):
        def _fit(self, data, *, progress):
            rng = np.random.default_rng(5)
            self.user_factors_ = rng.normal(size=(data.n_users, 8)).astype(np.float32)
            self.item_factors_ = rng.normal(size=(data.n_items, 8)).astype(np.float32)

    rng = np.random.default_rng(0)
    n_users, n_items = 300, 4000
    users, items = rng.integers(0, n_users, 9000), rng.integers(0, n_items, 9000)
    data = Interactions(Vocab.range(n_users), Vocab.range(n_items), users, items, weighting="binary")
    model = Fixed().fit(data)
    monkeypatch.setattr(base, "_THREAD_BLOCK_CELLS", 50_000)  # 24 blocks of 12 users
    monkeypatch.setattr(base, "_worker_count", lambda: 2)
    cols = np.sort(rng.choice(n_items, 1500, replace=False)) if restrict else np.arange(n_items)
    q = np.arange(n_users)
    idx, val = model.recommend_indices(q, 20, items=cols if restrict else None)
    ref = model.user_factors_ @ model.item_factors_[cols].T
    seen = data.matrix[:, cols].toarray() > 0
    ref[seen] = -np.inf
    want = np.argsort(-ref, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(idx, cols[want])
    np.testing.assert_allclose(val, np.take_along_axis(ref, want, axis=1), rtol=1e-5)
    monkeypatch.setattr(base, "_worker_count", lambda: 1)  # the single-thread path agrees
    np.testing.assert_array_equal(model.recommend_indices(q, 20, items=cols if restrict else None)[0], idx)
