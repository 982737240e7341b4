"""``shortlist datasets``: list / fetch / inspect through the CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shortlist.cli.main import main
from shortlist.data.datasets import DATASETS
from tests.conftest import shared_dataset
from tests.data.test_download import TOY_FILES, server  # noqa: F401 - the local HTTP fixture

REPO = Path(__file__).resolve().parents[2]


def test_list_table_and_json(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in DATASETS:
        assert name in out
    assert "redistribut" in out
    assert main(["datasets", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(DATASETS)
    assert rows[0]["sha256"] == DATASETS["ml-100k"].sha256


def test_inspect_json_matches_summary(capsys):
    assert main(["datasets", "inspect", str(shared_dataset("ml-latest-small")), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["users"], s["items"], s["events"]) == (610, 9724, 100_836)
    assert s["weighting"] == "binary" and s["item_features"]["tags"] == "multi"


def test_inspect_weighting_and_verify(capsys):
    path = str(shared_dataset("ml-100k"))
    assert main(["datasets", "inspect", path, "--weighting", "threshold:4", "--verify", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["cells"] == 55_375 and s["weighting"] == "threshold:4" and s["files_verified"] is True


def test_inspect_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["datasets", "inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown dataset format") and err.count("\n") == 1
    assert main(["datasets", "inspect", str(shared_dataset("ml-100k")), "--weighting", "nope"]) == 2
    assert "unknown weighting 'nope'" in capsys.readouterr().err


def test_fetch_via_cli(server, tmp_path, capsys):  # noqa: F811 - pytest fixture
    url = server.url("/toy.zip")
    code = main(["datasets", "fetch", "toy", "--to", str(tmp_path), "--url", url,
                 "--sha256", server.sha256, "--no-progress"])
    assert code == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'toy'} (ml-100k)"
    assert (tmp_path / "toy" / "u.data").read_text() == TOY_FILES["u.data"]


def test_fetch_errors_via_cli(server, tmp_path, capsys):  # noqa: F811
    assert main(["datasets", "fetch", "toy", "--to", str(tmp_path), "--url", server.url("/toy.zip"),
                 "--sha256", "1" * 64, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checksum mismatch") and server.sha256 in err
    assert main(["datasets", "fetch", "nope", "--to", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main(["datasets", "fetch", "toy", "--to", str(tmp_path), "--url", server.url("/gone.zip"),
                 "--sha256", server.sha256, "--no-progress"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_action_prints_help(capsys):
    assert main(["datasets"]) == 2
    assert "inspect" in capsys.readouterr().out


def test_python_m_shortlist_inspect_subprocess():
    path = shared_dataset("ml-100k")
    rel = os.path.relpath(path, REPO)  # "../shared/data/ml-100k"
    proc = subprocess.run(
        [sys.executable, "-m", "shortlist", "datasets", "inspect", rel],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines()[2:] if line.strip())
    assert lines["users"].strip() == "943" and lines["items"].strip() == "1682"
    assert lines["events"].strip() == "100000" and lines["weighting"].strip() == "binary"
