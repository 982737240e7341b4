"""`shortlist serve` refusals and directory watching (symlink flipped to a new version)."""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient

from shortlist.cli.main import main
from tests.serving.helpers import make_app, train_tiny


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("cli") / "v1")


def test_serve_refuses_public_bind_without_key(v1, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SHORTLIST_API_KEY", raising=False)
    monkeypatch.delenv("SHORTLIST_SETTINGS_JSON", raising=False)
    code = main(["serve", "--model-dir", str(v1), "--host", "0.0.0.0", "--events-db", str(tmp_path / "e.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "SHORTLIST_API_KEY" in err and "Traceback" not in err
    monkeypatch.setenv("SHORTLIST_API_KEY", "changeme")
    assert main(["serve", "--model-dir", str(v1), "--host", "0.0.0.0"]) == 2


def test_serve_refuses_workers_without_shared_state(v1, monkeypatch, capsys):
    monkeypatch.delenv("SHORTLIST_SETTINGS_JSON", raising=False)
    assert main(["serve", "--model-dir", str(v1), "--workers", "2"]) == 2
    assert "redis" in capsys.readouterr().err


def test_serve_reports_bad_settings_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SHORTLIST_SETTINGS_JSON", raising=False)
    f = tmp_path / "s.toml"
    f.write_text('model_dir = "x"\nmax_k = -1\n')
    assert main(["serve", "--config", str(f)]) == 2
    assert "max_k" in capsys.readouterr().err


def test_watch_swaps_when_the_served_symlink_flips(v1, tmp_path):
    v2 = train_tiny(tmp_path / "v2", seed=3)
    current = tmp_path / "current"
    os.symlink(v1, current)
    with TestClient(make_app(current, tmp_path, watch_interval_s=0.1)) as c:
        assert c.get("/health").json()["model_version"].startswith("v1@")
        tmp_link = tmp_path / "current.new"
        os.symlink(v2, tmp_link)
        os.replace(tmp_link, current)  # atomic flip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not c.get("/health").json()["model_version"].startswith("v2@"):
            time.sleep(0.1)
        assert c.get("/health").json()["model_version"].startswith("v2@")
        assert c.post("/recommend", json={"user_id": 3}).json()["model_version"].startswith("v2@")
