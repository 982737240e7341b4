"""`shortlist demo --serve`: trains on the synthetic world, then serves it with docs URL and a curl."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import free_port


@pytest.mark.slow
def test_demo_trains_explains_and_serves(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shortlist", "demo", "--preset", "tiny", "--eval-users", "50",
                                 "--serve", "--port", str(port), "--out", str(tmp_path / "run")],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=Path(__file__).resolve().parents[2])
    try:
        url, deadline, ready = f"http://127.0.0.1:{port}", time.monotonic() + 300, False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(url + "/health", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                pass
            if ready:
                break
            time.sleep(0.5)
        text = log.read_text()
        assert ready, text[-3000:]
        # the printed curl names a known user; sending it gets recommendations with a trace
        user = re.search(r'"user_id": "([^"]+)"', text).group(1)
        assert f"docs:   {url}/docs" in text and f"curl -s -X POST {url}/recommend" in text
        r = httpx.post(url + "/recommend", json={"user_id": user, "k": 5, "explain": True}, timeout=10)
        assert r.status_code == 200 and len(r.json()["items"]) == 5 and r.json()["user_known"]
        assert r.json()["trace"][0]["stage"] == "candidates"
        assert httpx.get(url + "/docs", timeout=10).status_code == 200
        # the job's own output: the stage-by-stage table, the explanation and the saved files
        assert "pipeline: ranking" in text and "one recommendation, explained" in text
        assert (tmp_path / "run" / "pipeline" / "pipeline.json").exists() and (tmp_path / "run" / "ndcg.png").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught
    assert proc.returncode in (0, -15) and "Application shutdown complete" in log.read_text()
