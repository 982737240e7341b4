"""Hot swap: `shortlist retrain` builds a new version from the log; the server swaps under load, no failures."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import pytest

from tests.serving.helpers import API_KEY, ServerProcess, event, train_tiny

pytestmark = pytest.mark.slow


def test_retrain_and_swap_under_concurrent_requests(tmp_path):
    v1 = train_tiny(tmp_path / "v1")
    v2 = tmp_path / "v2"
    db = tmp_path / "events.sqlite"
    with ServerProcess(v1, db) as server:
        auth = {"X-API-Key": API_KEY}
        evs = [event(f"e{i}", "1000", i) for i in (20, 21, 22)] + [event("e9", "3", 25)]
        assert httpx.post(server.url + "/events", headers=auth, json={"events": evs}).status_code == 200
        out = subprocess.run([sys.executable, "-m", "shortlist", "retrain", "--events", str(db), "--model-dir",
                              str(v1), "--out", str(v2)], capture_output=True, text=True, timeout=120,
                             check=False)
        assert out.returncode == 0, out.stderr
        assert "4 logged events" in out.stdout and "1 new users" in out.stdout

        results: list[tuple[int, str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def hammer(user: str) -> None:
            with httpx.Client(base_url=server.url, timeout=10.0) as c:
                while not stop.is_set():
                    try:
                        r = c.post("/recommend", json={"user_id": user, "k": 5})
                        results.append((r.status_code, r.json().get("model_version", "")))
                    except Exception as exc:  # noqa: BLE001 - any failure counts
                        failures.append(repr(exc))

        threads = [threading.Thread(target=hammer, args=(u,)) for u in ("3", "1000", "30", "7")]
        for t in threads:
            t.start()
        initial = httpx.get(server.url + "/health").json()["model_version"]
        try:
            versions, answered = [], []
            for target in (v2, v1, v2):
                r = httpx.post(server.url + "/admin/reload", headers=auth, json={"model_dir": str(target)},
                               timeout=60)
                assert r.status_code == 200, r.text
                versions.append(r.json()["model_version"])
                # a request after the reload returned is answered by the new version
                answered.append(httpx.post(server.url + "/recommend", json={"user_id": "3", "k": 5},
                                           timeout=10).json()["model_version"])
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not failures, failures[:3]
        assert results and all(code == 200 for code, _ in results), {c for c, _ in results}
        served = {v for _, v in results}
        # every answer under load came from a version that was really loaded, none garbled or empty
        assert served <= {initial, *versions}, served - {initial, *versions}
        assert answered == versions
        assert initial.startswith("v1@") and versions[1] != versions[0]
        assert versions[0].startswith("v2@") and versions[1].startswith("v1@")
        # after the swap the retrained model knows the user who only existed in the log
        r = httpx.post(server.url + "/recommend", json={"user_id": "1000", "k": 5}).json()
        assert r["model_version"] == versions[2] and r["user_known"] is True
        h = httpx.get(server.url + "/health").json()
        assert h["model_version"] == versions[2]
        assert 'shortlist_model_reloads_total{outcome="swapped"} 3.0' in httpx.get(server.url + "/metrics").text


def test_reload_rejects_bad_folder_and_keeps_serving(tmp_path):
    from fastapi.testclient import TestClient

    from tests.serving.helpers import make_app

    v1 = train_tiny(tmp_path / "v1")
    with TestClient(make_app(v1, tmp_path)) as c:
        before = c.get("/health").json()["model_version"]
        r = c.post("/admin/reload", headers={"X-API-Key": API_KEY}, json={"model_dir": str(tmp_path / "nope")})
        assert r.status_code == 404 and "pipeline.json" in r.json()["error"]
        assert c.get("/health").json()["model_version"] == before
        r = c.post("/admin/reload", headers={"X-API-Key": API_KEY})
        assert r.status_code == 200 and r.json()["changed"] is False
