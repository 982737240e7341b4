"""A loaded pipeline's models share one training matrix, as after the fit."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shortlist.data import Interactions
from shortlist.data.world import generate_world
from shortlist.models.popularity import Popularity
from shortlist.pipeline import Pipeline
from shortlist.pipeline.persistence import _share_train

SPEC = {
    "name": "shared-train", "k": 10,
    "models": {"als": {"kind": "als", "params": {"factors": 8, "iterations": 2, "progress": False}},
               "knn": {"kind": "item-knn"}, "pop": {"kind": "popularity"}},
    "sources": [{"name": "als", "kind": "model", "model": "als", "quota": 30},
                {"name": "knn", "kind": "model", "model": "knn", "quota": 30},
                {"name": "popular", "kind": "model", "model": "pop", "quota": 10}],
    "rules": [{"kind": "exclude_seen"}],
    "tuning": {"budget": 0},
}


def test_loaded_models_share_one_training_matrix(tmp_path):
    pipe = Pipeline(SPEC).fit(generate_world("tiny", seed=2).dataset(), progress=False)
    fitted = pipe.models_["als"].train_
    assert all(m.train_ is fitted for m in pipe.models_.values())  # what the fit does
    loaded = Pipeline.load(pipe.save(tmp_path / "model"))
    mats = [m.train_ for m in loaded.models_.values()]
    assert len(mats) == 3 and all(m is mats[0] for m in mats)
    assert (mats[0] != fitted).nnz == 0
    for uid in list(pipe.users_.ids)[:20]:
        a, b = pipe.recommend(uid, k=10), loaded.recommend(uid, k=10)
        assert list(a.item_ids) == list(b.item_ids)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_a_different_matrix_is_not_shared():
    m = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    other = m.copy()
    other[1, 2] = 1
    first = Popularity().fit(Interactions.from_matrix(sp.csr_matrix(m)))
    second = Popularity().fit(Interactions.from_matrix(sp.csr_matrix(other)))
    own = second.train_
    assert _share_train(second, {"first": first}).train_ is own
    same = Popularity().fit(Interactions.from_matrix(sp.csr_matrix(m)))
    assert same.train_ is not first.train_
    assert _share_train(same, {"first": first}).train_ is first.train_
