"""Every inspector page through FastAPI's TestClient: what it shows equals what the JSON API answers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import event
from tests.ui.conftest import API_KEY, make_app
from tests.ui.helpers import card_ids

pytestmark = pytest.mark.slow  # the session's world is trained once (~15 s)


@pytest.fixture
def client(world_dir, tmp_path):
    with TestClient(make_app(world_dir, tmp_path)) as c:
        yield c


def _recommend(client, **body) -> list[dict]:
    r = client.post("/recommend", json=body)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _deterministic(items: list[dict]) -> list[tuple[int, str]]:
    return [(n, str(it["item_id"])) for n, it in enumerate(items) if it.get("propensity", 1.0) == 1.0]


def test_overview_shows_the_data_and_the_pipeline(client, world_dir):
    from shortlist.pipeline import Pipeline

    p = Pipeline.load(world_dir)
    html = client.get("/ui").text
    assert re.search(r'id="n-users">(\d[\d,]*)<', html).group(1).replace(",", "") == str(p.users_.ids.size)
    assert re.search(r'id="n-items">(\d[\d,]*)<', html).group(1).replace(",", "") == str(p.items_.ids.size)
    for source in p.spec.sources:
        assert f"<td>{source.name}</td>" in html
    assert html.count("<svg") >= 2  # events per user and per item
    assert client.get("/health").json()["model_version"] in html


def test_user_page_lists_what_recommend_returns(client):
    items = _recommend(client, user_id="u0", k=10)
    page = client.get("/ui/users/u0").text
    shown = card_ids(page, "final-list")
    assert len(shown) == 10
    assert [(n, shown[n]) for n, _ in _deterministic(items)] == _deterministic(items)
    assert 'id="funnel"' in page and "creator_cap" in page  # the rule stage is in the funnel
    assert len(card_ids(page, "history")) > 0


def test_what_if_controls_match_the_same_json_request(client):
    first = str(_recommend(client, user_id="u3", k=10)[0]["item_id"])
    items = _recommend(client, user_id="u3", k=5, exclude=[first])
    shown = card_ids(client.get(f"/ui/users/u3?k=5&exclude={first}").text, "final-list")
    assert len(shown) == 5 and first not in shown
    assert [(n, shown[n]) for n, _ in _deterministic(items)] == _deterministic(items)


def test_why_not_names_the_reason(client, world_dir):
    from shortlist.pipeline import Pipeline

    p = Pipeline.load(world_dir)
    items = _recommend(client, user_id="u0", k=10)
    top = str(items[0]["item_id"])
    assert "shown at position 1" in client.get(f"/ui/items/{top}?user=u0").text
    m = p.train_
    seen = str(p.items_.ids[m.indices[m.indptr[0]]])
    assert "already in the user&#39;s training history" in client.get(f"/ui/items/{seen}?user=u0").text
    page = client.get(f"/ui/items/{top}").text
    assert 'id="similar"' in page and len(card_ids(page, "similar")) == 10


def test_experiments_counts_logged_impressions_and_variants(client):
    for n in range(3):
        _recommend(client, user_id=f"u{n}", k=10)  # the exploration slot logs one impression each
    events = [event(f"a{n}", "u9", "i1", "impression", extra={"variant": "A"}) for n in range(4)]
    events += [event(f"b{n}", "u9", "i2", "impression", extra={"variant": "B"}) for n in range(5)]
    events += [event("ca", "u9", "i1", "click", extra={"variant": "A"})]
    r = client.post("/events", json={"events": events}, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    page = client.get("/ui/experiments").text
    assert re.search(r"<td>A</td><td>4</td><td>1</td><td>0.25</td>", page)
    assert re.search(r"<td>B</td><td>5</td><td>0</td><td>0</td>", page)
    arms = re.findall(r'<tr><td><a href="/ui/items/[^"]+">[^<]+</a></td><td>(\d+)</td>', page)
    assert sum(map(int, arms)) == 3
    assert 'id="ope"' in page and "served pipeline, top-k" in page


def test_search_finds_users_and_titles(client, world_dir):
    from shortlist.pipeline import Pipeline

    p = Pipeline.load(world_dir)
    page = client.get("/ui/search?q=u1").text
    assert '<a href="/ui/users/u1">u1</a>' in page
    title = str(p.dataset_.item_features.text("title")[7]).split()[0]
    assert "i7" in card_ids(client.get(f"/ui/search?q={title}").text, "found-items")


def test_unknown_item_is_404_and_bad_time_is_422(client):
    assert client.get("/ui/items/nope").status_code == 404
    assert client.get("/ui/users/u0?time=yesterday").status_code == 422


def test_login_cookie_and_csrf_beyond_loopback(world_dir, tmp_path):
    app = make_app(world_dir, tmp_path, host="0.0.0.0")
    with TestClient(app, follow_redirects=False) as c:
        r = c.get("/ui")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        form = c.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        assert c.post("/ui/login", data={"api_key": API_KEY, "csrf": "forged"}).status_code == 403
        assert c.post("/ui/login", data={"api_key": "wrong" * 4, "csrf": csrf}).status_code == 401
        r = c.post("/ui/login", data={"api_key": API_KEY, "csrf": csrf, "next": "/ui/experiments"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/experiments"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/ui").status_code == 200
        assert c.post("/ui/admin/reload", data={}).status_code == 403  # no CSRF token
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ui").text).group(1)
        r = c.post("/ui/admin/reload", data={"csrf": token})
        assert r.status_code == 403 and "read-only" in r.text  # started without --ui-admin


def test_admin_reload_with_ui_admin(world_dir, tmp_path):
    with TestClient(make_app(world_dir, tmp_path, ui_admin=True), follow_redirects=False) as c:
        page = c.get("/ui").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert c.post("/ui/admin/reload", data={"csrf": token}).status_code == 303


def test_shortlist_ui_app_compares_two_versions(world_dir, world_dir_v2, tmp_path):
    from shortlist.cli.ui import build_app
    from shortlist.pipeline import Pipeline

    a, b = Pipeline.load(world_dir), Pipeline.load(world_dir_v2)
    la = set(a.recommend(a.make_request("u5", k=10)).item_ids)
    lb = set(b.recommend(b.make_request("u5", k=10)).item_ids)
    with TestClient(build_app(world_dir, world_dir_v2, scratch=tmp_path)) as c:
        page = c.get("/ui/users/u5").text
    overlap = int(re.search(r"(\d+) of 10 items in common", page).group(1))
    assert abs(overlap - len(la & lb)) <= 1  # the exploration slot of the first version draws anew per request
    assert 'id="compare"' in page
