"""Several replicas sharing Redis state; vectors solved per request after a model swap; reads never write."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.online.test_state import redis_url  # noqa: F401 - fixture
from tests.serving.helpers import API_KEY, TINY_SPEC, event, make_app, train_tiny

AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("replicas") / "v1")


def _ids(r) -> list:
    return [it["item_id"] for it in r.json()["items"]]


def test_event_on_one_replica_is_seen_by_another(v1, tmp_path, redis_url):  # noqa: F811
    db = tmp_path / "events.sqlite"
    kw = {"state": "redis", "redis_url": redis_url, "redis_prefix": f"rep-{tmp_path.name}", "events_db": db}
    with TestClient(make_app(v1, tmp_path, **kw)) as a, TestClient(make_app(v1, tmp_path, **kw)) as b:
        mf_b = b.app.state.holder.current.pipeline.models_["mf"]
        before = mf_b.user_factors_[3].copy()
        target = next(i for i in range(15, 30) if i not in set(mf_b.train_[3].indices.tolist()))
        assert target in _ids(b.post("/recommend", json={"user_id": 3, "k": 29}))
        assert a.post("/events", headers=AUTH, json={"events": [event("r1", "3", target)]}).status_code == 200
        after_b = _ids(b.post("/recommend", json={"user_id": 3, "k": 29}))
        assert target not in after_b
        # replica b serves with the vector replica a folded in, read from the shared state
        mf_a = a.app.state.holder.current.pipeline.models_["mf"]
        mv_b = b.app.state.holder.current
        assert np.allclose(b.app.state.updater.user_vectors(mv_b, "3", 3, True)["mf"], mf_a.user_factors_[3])
        assert not np.allclose(mf_a.user_factors_[3], before)
        assert after_b == _ids(a.post("/recommend", json={"user_id": 3, "k": 29}))
        # ... and the read did not write into b's served model
        assert np.array_equal(mf_b.user_factors_[3], before)
        # both replicas write the same durable log (idempotent across replicas too)
        r = b.post("/events", headers=AUTH, json={"events": [event("r1", "3", target)]})
        assert r.json()["duplicates"] == 1


#: the tiny pipeline with its factor model behind an embedding source (it searches with the user's vector)
EMBEDDING_SPEC = {**TINY_SPEC, "sources": [{"name": "mf", "kind": "embedding", "model": "mf", "quota": 20},
                                           {"name": "pop", "kind": "model", "model": "pop", "quota": 10}]}


def test_vectors_are_solved_per_request_after_swap(v1, tmp_path):
    v2 = train_tiny(tmp_path / "v2", seed=1, spec=EMBEDDING_SPEC)
    with TestClient(make_app(v1, tmp_path)) as c:
        c.post("/events", headers=AUTH, json={"events": [event("s1", "3", 27)]})
        assert c.post("/admin/reload", headers=AUTH, json={"model_dir": str(v2)}).json()["changed"]
        mv = c.app.state.holder.current
        mf = mv.pipeline.models_["mf"]
        learned = mf.user_factors_[3].copy()
        assert c.app.state.state.get_vector(f"{mv.version}/mf", "3") is None
        served = _ids(c.post("/recommend", json={"user_id": 3, "k": 29}))
        assert 27 not in served
        expected = mf.fold_in_users(c.app.state.updater.user_row(mf, 3, [("27", 1.0)]))[0]
        assert np.allclose(c.app.state.updater.user_vectors(mv, "3", 3, True)["mf"], expected)
        # the served list is the pipeline's answer with that vector standing in for the learned row
        p = mv.pipeline
        direct = p.recommend(p.make_request(3, k=29, history=[27], user_vectors={"mf": expected}))
        assert served == [int(i) for i in direct.item_ids]
        learned_list = p.recommend(p.make_request(3, k=29, history=[27]))
        assert served != [int(i) for i in learned_list.item_ids]  # the vector made a difference
        # a read writes neither the state nor the model
        assert c.app.state.state.get_vector(f"{mv.version}/mf", "3") is None
        assert np.array_equal(mf.user_factors_[3], learned)
