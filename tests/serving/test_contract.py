"""The API contract: one error body, a document that lists what the server answers, catalog-only ids, offline docs."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import API_KEY, event, make_app

AUTH = {"X-API-Key": API_KEY}


def _shape(r, status: int) -> dict:
    body = r.json()
    assert r.status_code == status and set(body) == {"error", "status", "detail"} and body["status"] == status
    assert isinstance(body["error"], str) and "\n" not in body["error"] and len(body["error"]) > 10
    return body


def test_every_4xx_has_one_body_shape_and_is_in_the_document(model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pipeline.json").write_text("{}")
    with TestClient(make_app(model_dir, tmp_path, max_body_bytes=4000)) as c:
        seen = {
            ("post", "/admin/reload", 400): c.post("/admin/reload", headers=AUTH, json={"model_dir": str(broken)}),
            ("post", "/events", 401): c.post("/events", json={"events": [event("e", 1, 1)]}),
            ("get", "/items/{item_id}/similar", 404): c.get("/items/12345/similar"),
            ("post", "/admin/reload", 404): c.post("/admin/reload", headers=AUTH, json={"model_dir": "/no/such"}),
            ("post", "/recommend", 413): c.post("/recommend", json={"history": ["x" * 50] * 100}),
            ("post", "/recommend", 422): c.post("/recommend", json={"k": "ten"}),
            ("get", "/items/trending", 422): c.get("/items/trending", params={"k": 0}),
        }
        doc = c.get("/openapi.json").json()
        for (method, path, status), r in seen.items():
            _shape(r, status)
            assert str(status) in doc["paths"][path][method]["responses"], (method, path, status)
            ref = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
            assert ref == {"$ref": "#/components/schemas/ErrorOut"}
        body = _shape(seen[("post", "/recommend", 422)], 422)
        assert body["error"] == "k: Input should be a valid integer"
        assert body["detail"] == [{"loc": ["body", "k"], "msg": "Input should be a valid integer", "type": "int_type"}]
        assert seen[("post", "/events", 401)].headers["www-authenticate"] == "ApiKey"
        _shape(c.get("/recommend"), 405)  # not an operation, same body all the same


def test_the_key_is_declared_and_checked_before_the_body(model_dir, tmp_path):
    with TestClient(make_app(model_dir, tmp_path)) as c:
        doc = c.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["ApiKey"] == {
            "type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "the server's key (SHORTLIST_API_KEY) for /events and /admin"}
        assert doc["paths"]["/events"]["post"]["security"] == [{"ApiKey": []}]
        assert "security" not in doc["paths"]["/recommend"]["post"]
        for path in ("/events", "/admin/reload"):
            for body in (b"{not json", b'{"events": 3}', b'{"model_dir": 7}'):
                r = c.post(path, content=body, headers={"X-API-Key": "wrong", "content-type": "application/json"})
                _shape(r, 401)
        assert c.app.state.event_log.count() == 0


def test_without_a_key_the_document_asks_for_none(model_dir, tmp_path):
    with TestClient(make_app(model_dir, tmp_path, api_key=None)) as c:
        doc = c.get("/openapi.json").json()
        assert "securitySchemes" not in doc["components"]
        assert "security" not in doc["paths"]["/events"]["post"]
        assert "401" not in doc["paths"]["/events"]["post"]["responses"]


def test_document_limits_are_the_served_limits(model_dir, tmp_path):
    with TestClient(make_app(model_dir, tmp_path, max_k=50, max_history=8, max_batch=5)) as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
        k = schemas["RecommendIn"]["properties"]["k"]["anyOf"][0]
        assert (k["minimum"], k["maximum"]) == (1, 50)
        assert schemas["RecommendIn"]["properties"]["history"]["maxItems"] == 8
        assert schemas["EventsIn"]["properties"]["events"]["maxItems"] == 5
        assert schemas["EventIn"]["properties"]["propensity"]["anyOf"][0] == {
            "type": "number", "exclusiveMinimum": 0, "maximum": 1}
        assert schemas["ReloadIn"]["properties"]["model_dir"]["anyOf"][0]["minLength"] == 1
        # the edges: schema-valid is accepted, one step beyond is a 422 naming the field
        assert c.post("/recommend", json={"user_id": 1, "k": 50}).status_code == 200
        assert _shape(c.post("/recommend", json={"user_id": 1, "k": 51}), 422)["detail"][0]["loc"] == ["body", "k"]
        ok = c.post("/events", headers=AUTH, json={"events": [event("p", 1, 1, "impression", propensity=1e-9)]})
        assert ok.status_code == 200 and ok.json()["accepted"] == 1
        zero = c.post("/events", headers=AUTH, json={"events": [event("z", 1, 1, "impression", propensity=0)]})
        assert _shape(zero, 422)["detail"][0]["loc"] == ["body", "events", 0, "propensity"]
        empty = c.post("/admin/reload", headers=AUTH, json={"model_dir": ""})
        assert _shape(empty, 422)["detail"][0]["loc"] == ["body", "model_dir"]


def test_a_context_value_of_the_wrong_type_is_a_clean_422(client):
    r = client.post("/recommend", json={"user_id": 1, "context": {"now": "yesterday"}})
    body = _shape(r, 422)
    assert body["error"] == "context.now: Input should be a valid number"
    assert body["detail"][0]["loc"] == ["body", "context", "now"]
    assert client.post("/recommend", json={"user_id": 1, "context": {"now": 1.7e9, "device": "tv"}}).status_code == 200


def test_health_counts_each_event_once(client):
    batch = {"events": [event("h1", 1, 2), event("h2", 1, 3)]}
    assert client.post("/events", headers=AUTH, json=batch).json()["accepted"] == 2
    again = client.post("/events", headers=AUTH, json=batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    client.post("/events", headers=AUTH, json={"events": [event("h1", 1, 2), event("h3", 2, 2)]})
    assert client.get("/health").json()["events_logged"] == 3


def test_events_on_unknown_items_are_logged_but_never_shown(client):
    events = [event("k1", 1, 5), event("k2", 2, 5), event("k3", 3, "5"), event("k4", 1, 7)]
    events += [event(f"n{i}", i, "new-item") for i in range(4)] + [event(f"b{i}", i, 99999) for i in range(5)]
    r = client.post("/events", headers=AUTH, json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == 13
    assert client.app.state.event_log.count() == 13
    # the unknown ids have the most events; they are counted, and left out of the answer
    assert [i for i, _ in client.app.state.state.trending(2)] == ["99999", "new-item"]
    items = client.get("/items/trending", params={"k": 2}).json()["items"]
    assert [it["item_id"] for it in items] == [5, 7]  # "5" and 5 are one item, served as the catalog's int
    assert items[0]["score"] == pytest.approx(3.0, rel=1e-3)
    similar = client.get("/items/5/similar", params={"k": 3}).json()
    assert similar["item_id"] == 5 and all(type(it["item_id"]) is int for it in similar["items"])
    rec = client.post("/recommend", json={"user_id": 1, "history": ["new-item", 99999], "k": 5}).json()
    assert all(type(it["item_id"]) is int and it["item_id"] < 30 for it in rec["items"])


def test_docs_pages_use_only_local_assets(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/docs"
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", "")
        refs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assets = [ref for ref in refs if ref.startswith("/docs/assets/")]
        assert len(assets) >= 2, refs
        for ref in refs:
            assert ref.startswith("/"), ref
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset
    assert "/openapi.json" in client.get("/docs").text
