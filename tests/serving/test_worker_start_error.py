"""`shortlist serve --workers N` on a model folder that cannot be loaded: one error line, no stray workers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shortlist.serving.workers import reuseport_supported
from tests.serving.helpers import API_KEY, free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not reuseport_supported(), reason="the supervised workers are Linux-only")]


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_corrupted_model_file_is_one_error_line(model_dir, tmp_path):
    bad = shutil.copytree(model_dir, tmp_path / "bad")
    arrays = next(bad.glob("models/*/arrays.npz"))
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b"x" * 64  # same size, other bytes: only the checksum can tell
    arrays.write_bytes(bytes(data))
    env = dict(os.environ, SHORTLIST_API_KEY=API_KEY, SHORTLIST_REDIS_URL="redis://127.0.0.1:1/0")
    env.pop("SHORTLIST_SETTINGS_JSON", None)
    out = subprocess.run(
        [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(bad), "--port", str(free_port()),
         "--events-db", str(tmp_path / "events.sqlite"), "--workers", "2", "--state", "redis"],
        check=False, capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).resolve().parents[2])
    text = out.stdout + out.stderr
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert out.returncode != 0
    assert "Traceback" not in text
    assert len(errors) == 1, text
    assert str(bad) in errors[0] and "corrupted" in errors[0] and arrays.name in errors[0]
    # the supervisor named its workers when it started them; none may outlive it
    started = re.search(r"\(pids ([\d, ]+)\)", out.stdout)
    assert started, text
    pids = [int(p) for p in started.group(1).split(",")]
    assert len(pids) == 2 and not any(_running(p) for p in pids)
