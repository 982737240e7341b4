"""Item ids inside ``context`` are external ids over HTTP: blocklist and pinned rules see them."""

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from shortlist.data import Interactions, Vocab
from shortlist.pipeline import Pipeline
from tests.conftest import block_interactions
from tests.serving.helpers import TINY_SPEC, make_app

SPEC = {**TINY_SPEC, "rules": [{"kind": "exclude_seen"}, {"kind": "blocklist"}, {"kind": "pinned"}]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # item ids 1000..1029: an id and its index never coincide, so a mix-up cannot pass
    base = block_interactions()
    data = Interactions.from_matrix(sp.csr_matrix(base.matrix), users=Vocab(np.arange(base.n_users)),
                                    items=Vocab(np.arange(1000, 1000 + base.n_items)), weighting="binary")
    folder = tmp_path_factory.mktemp("ctx") / "v1"
    Pipeline(SPEC).fit(data, progress=False).save(folder)
    return folder


@pytest.fixture
def client(model_dir, tmp_path):
    with TestClient(make_app(model_dir, tmp_path)) as c:
        yield c


def ids(r):
    assert r.status_code == 200, r.text
    return [it["item_id"] for it in r.json()["items"]]


def test_blocklist_in_context_takes_item_ids(client):
    top = ids(client.post("/recommend", json={"user_id": 3, "k": 5}))
    assert all(1000 <= i < 1030 for i in top)
    blocked = ids(client.post("/recommend", json={"user_id": 3, "k": 5, "context": {"blocklist": top[:2]}}))
    assert not set(top[:2]) & set(blocked)
    assert blocked[:3] == top[2:5]
    # ids as strings (JSON clients often send them so) and unknown ids are fine
    as_text = ids(client.post("/recommend", json={"user_id": 3, "k": 5,
                                                  "context": {"blocklist": [str(top[0]), "nope", 99999]}}))
    assert top[0] not in as_text


def test_pinned_in_context_takes_item_ids(client):
    top = ids(client.post("/recommend", json={"user_id": 3, "k": 5}))
    pinned = ids(client.post("/recommend", json={"user_id": 3, "k": 5,
                                                 "context": {"pinned": [{"item": top[3], "position": 0}]}}))
    assert pinned[0] == top[3]


def test_the_python_api_translates_the_same_way(model_dir):
    pipe = Pipeline.load(model_dir)
    top = pipe.recommend(pipe.make_request(3, k=5)).item_ids
    req = pipe.make_request(3, k=5, context={"blocklist": [top[0]]})
    assert req.context["blocklist"].tolist() == [pipe.items_.index([top[0]])[0]]
    assert top[0] not in pipe.recommend(req).item_ids
