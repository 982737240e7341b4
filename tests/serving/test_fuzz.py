"""Fuzzing: malformed and near-valid bodies against every endpoint never produce a 5xx."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.helpers import API_KEY, make_app, train_tiny

AUTH = {"X-API-Key": API_KEY, "content-type": "application/json"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                          st.dictionaries(st.text(max_size=10), kids, max_size=5)),
                           max_leaves=20)
ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=30), st.none(), st.floats())


def _near(fields: dict) -> st.SearchStrategy:
    """Dicts built from the real field names with arbitrary values (gets past the first check)."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, json_values) for k, v in fields.items()})


recommend_bodies = _near({"user_id": ids, "k": st.integers(-5, 5000), "history": st.lists(ids, max_size=8),
                          "context": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
                          "exclude": st.lists(ids, max_size=5), "explain": st.booleans()})
event_bodies = _near({"event_id": st.text(max_size=10), "user_id": ids, "item_id": ids,
                      "type": st.sampled_from(["click", "impression", "reward", "", "x y", "view"]),
                      "timestamp": st.one_of(st.integers(-10, 2**40), st.floats()),
                      "value": st.floats(), "propensity": st.floats(), "position": st.integers(-3, 10**6),
                      "extra": json_values})
bodies = st.one_of(json_values, recommend_bodies,
                   st.fixed_dictionaries({"events": st.one_of(st.lists(event_bodies, max_size=4), json_values)}))
raw = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))
paths = st.sampled_from(["/recommend", "/events", "/admin/reload"])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with TestClient(make_app(train_tiny(tmp / "v1"), tmp, max_body_bytes=4096, max_batch=3),
                    raise_server_exceptions=False) as c:
        yield c


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(path=paths, body=bodies)
def test_json_bodies_never_5xx(client, path, body):
    r = client.post(path, content=json.dumps(body).encode(), headers=AUTH)
    assert r.status_code < 500, (path, body, r.text)


@_SETTINGS
@given(path=paths, body=raw)
def test_raw_bytes_never_5xx(client, path, body):
    r = client.post(path, content=body, headers=AUTH)
    assert r.status_code < 500, (path, body, r.text)
    assert 400 <= r.status_code < 500 or path == "/admin/reload"


@_SETTINGS
@given(item=st.text(min_size=1, max_size=30).map(lambda s: quote(s, safe="")),
       k=st.one_of(st.integers(-3, 3000), st.text(max_size=5)), model=st.one_of(st.none(), st.text(max_size=10)))
def test_get_endpoints_never_5xx(client, item, k, model):
    params = {"k": k} if model is None else {"k": k, "model": model}
    for url in (f"/items/{item}/similar", "/items/trending", f"/admin/users/{item}"):
        r = client.get(url, params=params, headers=AUTH)
        assert r.status_code < 500, (url, params, r.text)
    assert client.get("/health").status_code == 200
