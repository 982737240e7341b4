"""Shared test helpers: a tiny trained pipeline, in-process apps and real `shortlist serve` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import httpx

from tests.conftest import block_interactions

API_KEY = "test-key-0123456789abcdef"

TINY_SPEC = {
    "name": "tiny-serve", "k": 5,
    "models": {"pop": {"kind": "popularity"}, "mf": {"kind": "mf-mse", "params": {"factors": 8, "random_state": 0, "use_bias": False, "epochs": 10}}},
    "sources": [{"name": "mf", "kind": "model", "model": "mf", "quota": 20},
                {"name": "pop", "kind": "model", "model": "pop", "quota": 10}],
}


def train_tiny(folder: Path, *, seed: int = 0, spec: dict | None = None) -> Path:
    """Fit the tiny two-source pipeline on block data and save it to ``folder``."""
    from shortlist.pipeline import Pipeline

    Pipeline(spec or TINY_SPEC).fit(block_interactions(seed=seed), progress=False).save(folder)
    return folder


def make_app(model_dir: Path, tmp: Path, **settings: Any):
    """An app on ``model_dir`` with an event log under ``tmp`` and the test API key."""
    from shortlist.serving import Settings, create_app

    settings.setdefault("api_key", API_KEY)
    settings.setdefault("events_db", tmp / "events.sqlite")
    return create_app(Settings(model_dir=model_dir, **settings))


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`shortlist serve` in a subprocess on 127.0.0.1; always stopped by :meth:`stop`."""

    def __init__(self, model_dir: Path, events_db: Path, *extra: str, api_key: str = API_KEY) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, SHORTLIST_API_KEY=api_key, PYTHONUNBUFFERED="1")
        env.pop("SHORTLIST_SETTINGS_JSON", None)
        self.log_path = events_db.parent / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shortlist", "serve", "--model-dir", str(model_dir), "--host", "127.0.0.1",
             "--port", str(self.port), "--events-db", str(events_db), *extra],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).resolve().parents[2])

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing - a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()

    def __enter__(self) -> Self:
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def event(event_id: str, user_id: Any, item_id: Any, type_: str = "click", **kw: Any) -> dict:
    """One event body."""
    return {"event_id": event_id, "user_id": user_id, "item_id": item_id, "type": type_, **kw}
