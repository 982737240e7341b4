"""The HTTP API in-process: freshness, cold start, validation, limits, auth, similar items, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import API_KEY, event, make_app

AUTH = {"X-API-Key": API_KEY}



def _ids(resp) -> list:
    return [it["item_id"] for it in resp.json()["items"]]


def test_recommend_known_user_matches_pipeline(client, model_dir):
    from shortlist.pipeline import Pipeline

    p = Pipeline.load(model_dir)
    r = client.post("/recommend", json={"user_id": "3", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["user_known"] is True and body["model_version"].startswith("v1@")
    expected = p.recommend(p.make_request(3, k=5))
    assert _ids(r) == list(expected.item_ids)
    assert np.allclose([it["score"] for it in body["items"]], expected.scores, atol=1e-6)


def test_event_then_recommend_excludes_item_and_moves_vector(client):
    app = client.app
    model = app.state.holder.current.pipeline.models_["mf"]
    u = 3
    seen = set(model.train_[u].indices.tolist())
    target = next(i for i in range(15, 30) if i not in seen)  # an item of the other community
    x_before = model.user_factors_[u].copy()
    r = client.post("/recommend", json={"user_id": 3, "k": 29})
    assert target in _ids(r)
    r = client.post("/events", headers=AUTH, json={"events": [event("f1", "3", target)]})
    assert r.status_code == 200 and r.json()["accepted"] == 1 and r.json()["users_updated"] == 1
    r = client.post("/recommend", json={"user_id": "3", "k": 29})
    assert target not in _ids(r), "an item the user just interacted with is excluded as seen"
    # independent check: ridge fold-in of the training row, then one more observation of
    # `target` (Sherman-Morrison): its prediction moves to old + (1 - old) * h / (1 + h)
    y = model.item_factors_.astype(np.float64)
    w = model.train_[u].toarray().ravel().astype(np.float64)
    a = (y * w[:, None]).T @ y + model.fold_in_regularization * np.eye(y.shape[1])
    x_old = np.linalg.solve(a, (y * w[:, None]).sum(0))
    h = y[target] @ np.linalg.solve(a, y[target])
    old = x_old @ y[target]
    x_new = model.user_factors_[u].astype(np.float64)
    assert x_new @ y[target] == pytest.approx(old + (1 - old) * h / (1 + h), rel=1e-3, abs=1e-4)
    assert x_new @ y[target] > x_before @ y[target]


def test_events_are_idempotent(client):
    batch = {"events": [event("a", "1", 2), event("b", "1", 3), event("a", "1", 2)]}
    r = client.post("/events", headers=AUTH, json=batch)
    assert r.json()["accepted"] == 2 and r.json()["duplicates"] == 1
    r = client.post("/events", headers=AUTH, json=batch)
    assert r.json()["accepted"] == 0 and r.json()["duplicates"] == 3
    assert client.app.state.event_log.event_ids() == ["a", "b"]


def test_anonymous_user_uses_history_and_logged_events(client):
    # a user id never seen in training: history of the second community -> recommendations from it
    r = client.post("/recommend", json={"user_id": "new-user", "history": [20, 21, 22], "k": 5})
    assert r.status_code == 200 and r.json()["user_known"] is False
    items = _ids(r)
    assert len(items) == 5 and all(i >= 15 for i in items) and not {20, 21, 22} & set(items)
    # the same id with events instead of history: the log describes the user
    client.post("/events", headers=AUTH, json={"events": [event(f"n{i}", "new-user", i) for i in (16, 17, 18)]})
    items = _ids(client.post("/recommend", json={"user_id": "new-user", "k": 5}))
    assert all(i >= 15 for i in items) and not {16, 17, 18} & set(items)


def test_cold_start_without_signal_falls_back_to_popular(client, model_dir):
    from shortlist.pipeline import Pipeline

    r = client.post("/recommend", json={"user_id": "stranger", "k": 4})
    assert r.status_code == 200
    body = r.json()
    p = Pipeline.load(model_dir)
    counts = np.bincount(p.train_.indices, minlength=len(p.items_))
    top = set(np.argsort(-counts, kind="stable")[:4].tolist())
    assert body["fallback"] == "popular" and set(_ids(r)) == top



def test_the_cli_gives_an_unknown_user_the_same_answer_as_the_api(client, model_dir, capsys):
    import json

    from shortlist.cli.main import main

    api = client.post("/recommend", json={"user_id": "stranger", "k": 4}).json()
    assert main(["recommend", "--model-dir", str(model_dir), "--user", "stranger", "--k", "4", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["fallback"] == api["fallback"] == "popular"
    assert [it["item_id"] for it in cli["items"]] == [it["item_id"] for it in api["items"]]
    assert [it["score"] for it in cli["items"]] == pytest.approx([it["score"] for it in api["items"]])


def test_explain_returns_trace_and_exclude_filter(client):
    r = client.post("/recommend", json={"user_id": 3, "k": 5, "explain": True, "exclude": [1, 12]})
    body = r.json()
    assert body["trace"][0]["stage"] == "candidates" and body["trace"][0]["out"] >= 5
    assert not {1, 12} & set(_ids(r))


def test_validation_errors_name_the_field(client):
    r = client.post("/recommend", json={"user_id": 3, "k": "ten"})
    assert r.status_code == 422 and r.json()["error"].startswith("k:")
    r = client.post("/recommend", json={"user_id": 3, "k": 0})
    assert r.status_code == 422 and "k" in r.json()["error"]
    r = client.post("/recommend", json={"user_id": 3, "kk": 3})
    assert r.status_code == 422 and "kk" in r.json()["error"]
    r = client.post("/events", headers=AUTH, json={"events": [{"event_id": "x", "user_id": 1, "type": "click",
                                                                "propensity": 3}]})
    assert r.status_code == 422 and "events.0.propensity" in r.json()["error"]
    r = client.post("/recommend", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_limits(model_dir, tmp_path):
    app = make_app(model_dir, tmp_path, max_body_bytes=2000, max_batch=3, max_k=20, max_history=4)
    with TestClient(app) as c:
        big = {"events": [event(f"e{i}", "1", 1, extra={"pad": "x" * 100}) for i in range(30)]}
        assert c.post("/events", headers=AUTH, json=big).status_code == 413
        four = {"events": [event(f"e{i}", "1", 1) for i in range(4)]}
        r = c.post("/events", headers=AUTH, json=four)
        # limits that are settings answer like the schema's own limits (the OpenAPI page shows them)
        assert r.status_code == 422 and r.json() == {
            "error": "events: 4 events in one batch; send at most max_batch=3 per request", "status": 422,
            "detail": [{"loc": ["body", "events"], "msg": "4 events in one batch; send at most max_batch=3 "
                                                           "per request", "type": "too_long"}]}
        assert c.post("/recommend", json={"user_id": 1, "k": 21}).status_code == 422
        r = c.post("/recommend", json={"history": [1, 2, 3, 4, 5]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "history"]

        def chunks():  # no Content-Length: the body arrives chunked
            for _ in range(10):
                yield b" " * 300
        r = c.post("/recommend", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.app.state.event_log.count() == 0


def test_auth(client):
    body = {"events": [event("z", "1", 1)]}
    assert client.post("/events", json=body).status_code == 401
    assert client.post("/events", json=body, headers={"X-API-Key": API_KEY[:-1]}).status_code == 401
    assert client.post("/admin/reload", json={}).status_code == 401
    assert client.app.state.event_log.count() == 0
    assert client.post("/events", json=body, headers=AUTH).status_code == 200
    # reads stay open
    assert client.post("/recommend", json={"user_id": 1}).status_code == 200


def test_refuses_weak_key_beyond_loopback(model_dir, tmp_path):
    from shortlist.errors import ConfigError
    from shortlist.serving import Settings

    for key in (None, "", "changeme", "short"):
        with pytest.raises(ConfigError, match="SHORTLIST_API_KEY"):
            Settings(model_dir=model_dir, host="0.0.0.0", api_key=key).check_security()
    Settings(model_dir=model_dir, host="0.0.0.0", api_key=API_KEY).check_security()
    Settings(model_dir=model_dir, host="127.0.0.1", api_key=None).check_security()


def test_settings_sources_and_precedence(model_dir, tmp_path):
    from shortlist.serving.settings import load_settings

    f = tmp_path / "serve.toml"
    f.write_text(f'[serve]\nmodel_dir = "{model_dir}"\nport = 9001\nmax_k = 50\napi_key = "from-file"\n')
    s = load_settings(f, environ={"SHORTLIST_API_KEY": "from-env", "SHORTLIST_PORT": "9002"}, port=9003)
    assert (s.port, s.max_k, s.api_key) == (9003, 50, "from-env")
    s = load_settings(f, environ={})
    assert (s.port, s.api_key) == (9001, "from-file")


def test_similar_items_and_unknown_item(client, model_dir):
    from shortlist.pipeline import Pipeline

    mf = Pipeline.load(model_dir).models_["mf"]
    r = client.get("/items/3/similar", params={"k": 4})
    assert r.status_code == 200 and r.json()["model"] == "mf"
    v = mf.item_factors_ / np.linalg.norm(mf.item_factors_, axis=1, keepdims=True)
    sims = v @ v[3]
    sims[3] = -np.inf
    assert _ids(r) == np.argsort(-sims, kind="stable")[:4].tolist()
    assert client.get("/items/9999/similar").status_code == 404
    assert client.get("/items/abc/similar").status_code == 404
    assert client.get("/items/3/similar", params={"model": "nope"}).status_code == 404


def test_health_metrics_and_trending(client):
    client.post("/events", headers=AUTH, json={"events": [event("t1", "1", 5), event("t2", "2", 5),
                                                          event("t3", "2", 6),
                                                          event("i1", "2", 7, "impression", propensity=0.5)]})
    client.post("/recommend", json={"user_id": 1})
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["events_logged"] == 4
    tr = client.get("/items/trending", params={"k": 2}).json()["items"]
    assert [t["item_id"] for t in tr] == [5, 6] and tr[0]["score"] == pytest.approx(2.0, rel=1e-3)
    assert client.app.state.state.bandit("7") == (1.0, 0.0)
    text = client.get("/metrics").text
    assert 'shortlist_http_request_duration_seconds_count{endpoint="/recommend",method="POST",status="200"} 1.0' \
        in text
    assert 'shortlist_events_ingested_total{type="click"} 3.0' in text
    assert 'shortlist_events_ingested_total{type="impression"} 1.0' in text
    assert f'shortlist_model_info{{version="{h["model_version"]}"}} 1.0' in text
    assert 'shortlist_stage_duration_seconds_count{stage="candidates"} 1.0' in text


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/recommend", "/events", "/items/{item_id}/similar", "/health", "/metrics", "/admin/reload"):
        assert p in paths
    assert client.get("/docs").status_code == 200


def test_exploration_propensities_are_logged_as_impressions(client, monkeypatch):
    p = client.app.state.holder.current.pipeline
    original = p.recommend

    def exploring(request, *a, **kw):
        resp = original(request, *a, **kw)
        resp.propensities = np.linspace(0.9, 0.5, len(resp.item_ids))
        return resp

    monkeypatch.setattr(p, "recommend", exploring)
    body = client.post("/recommend", json={"user_id": 5, "k": 3}).json()
    assert [it["propensity"] for it in body["items"]] == pytest.approx([0.9, 0.7, 0.5])
    logged = client.app.state.event_log.read()
    assert [(e.type, e.item_id, e.position, e.request_id) for e in logged] == \
        [("impression", str(it["item_id"]), pos, body["request_id"]) for pos, it in enumerate(body["items"])]
    assert [e.propensity for e in logged] == pytest.approx([0.9, 0.7, 0.5])
    assert client.app.state.state.bandit(str(body["items"][0]["item_id"]))[0] == 1.0
