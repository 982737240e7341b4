"""Server settings: defaults < settings TOML file < environment < command-line flags.

This is the only module of Shortlist that reads environment variables:

``SHORTLIST_API_KEY`` (key for write/admin endpoints), ``SHORTLIST_MODEL_DIR``,
``SHORTLIST_HOST``, ``SHORTLIST_PORT``, ``SHORTLIST_EVENTS_DB``, ``SHORTLIST_REDIS_URL``,
``SHORTLIST_SETTINGS`` (path of a settings TOML file) and ``SHORTLIST_SETTINGS_JSON`` (the
full settings, used to hand them to ``--workers`` processes).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shortlist.core.validation import config_error
from shortlist.errors import ConfigError

__all__ = ["WEAK_KEYS", "Settings", "is_loopback", "load_settings"]

#: keys that count as "no key" when the server listens beyond loopback
WEAK_KEYS = frozenset({"", "changeme", "change-me", "secret", "default", "password", "admin", "test", "key"})

_ENV = {
    "SHORTLIST_API_KEY": "api_key",
    "SHORTLIST_MODEL_DIR": "model_dir",
    "SHORTLIST_HOST": "host",
    "SHORTLIST_PORT": "port",
    "SHORTLIST_EVENTS_DB": "events_db",
    "SHORTLIST_REDIS_URL": "redis_url",
}


class Settings(BaseModel):
    """Everything the HTTP server and the online updater are configured with."""

    model_config = ConfigDict(extra="forbid")

    model_dir: Path
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    api_key: str | None = None
    events_db: Path | None = None
    #: "full" fsyncs the WAL on every commit (survives power loss); "normal" survives process crashes
    durability: Literal["full", "normal"] = "full"
    state: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "shortlist"
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    max_batch: int = Field(default=1000, gt=0)
    max_k: int = Field(default=1000, gt=0)
    max_history: int = Field(default=500, gt=0)
    history_length: int = Field(default=200, gt=0)
    max_online_users: int = Field(default=1_000_000, gt=0)
    #: bytes of memory state (histories, vectors, ~160 B per user) beyond which the least recently used users are
    #: evicted; an evicted user's history is reloaded from the event log when they come back
    online_memory_mb: float = Field(default=512.0, ge=1.0, description="a number of MiB, at least 1")
    #: memory state: snapshot the state after this many applied events (0 = only on time and shutdown)
    checkpoint_every_events: int = Field(default=10_000, ge=0, description="a count of events, 0 to turn off")
    #: memory state: snapshot the state every N seconds when events arrived (0 = only on count and shutdown)
    checkpoint_every_s: float = Field(default=300.0, ge=0, description="a number of seconds, 0 to turn off")
    #: where the memory-state snapshot lives (default: next to the event log, ``events.state.npz``)
    checkpoint_path: Path | None = None
    #: rebuild the online state from the checkpoint and the event log on start
    restore_state: bool = True
    trending_half_life_s: float = Field(default=3600.0, gt=0)
    fold_in: bool = True
    #: event types that are not interactions (never excluded as seen, never folded in)
    non_interaction_types: list[str] = Field(default_factory=lambda: ["impression", "reward", "feedback"])
    #: poll the model folder every N seconds and swap when its pipeline.json changes (0 = off)
    watch_interval_s: float = Field(default=0.0, ge=0)
    #: BLAS / OpenMP / numba threads of each worker process while it serves (0 = the libraries'
    #: defaults). A request is a few ms of small operations: a thread team costs more than it
    #: saves, and spinning threads of several workers fight over the cores.
    threads: int = Field(default=1, ge=0, le=256)
    log_level: str = "info"
    #: the inspector at /ui allows admin actions (reload the model folder); read-only otherwise
    ui_admin: bool = False

    def resolved_events_db(self) -> Path:
        """Path of the SQLite event log (default: ``events.sqlite`` inside the model folder)."""
        if self.events_db is not None:
            return Path(self.events_db)
        if Path(self.model_dir).is_symlink():
            # the default would follow the link and change log when it flips to a new version
            raise ConfigError(f"model_dir={str(self.model_dir)!r} is a symlink; set events_db (--events-db) to a "
                              "path outside the version folders so that the log outlives each version")
        return Path(self.model_dir) / "events.sqlite"

    def resolved_checkpoint_path(self) -> Path:
        """Path of the memory-state checkpoint (default: ``<events_db stem>.state.npz`` beside the log)."""
        if self.checkpoint_path is not None:
            return Path(self.checkpoint_path)
        db = self.resolved_events_db()
        return db.with_name(db.stem + ".state.npz")

    def check_security(self) -> None:
        """Refuse an empty or well-known API key when the server listens beyond loopback."""
        if not is_loopback(self.host) and (self.api_key is None or self.api_key.strip().lower() in WEAK_KEYS
                                           or len(self.api_key) < 16):
            raise ConfigError(
                f"host={self.host!r} is reachable beyond this machine but the API key is "
                f"{'missing' if not self.api_key else 'weak'}; set SHORTLIST_API_KEY (or api_key in the "
                "settings file) to a random string of 16+ characters, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`, or bind --host 127.0.0.1")

    def export_to_env(self) -> None:
        """Put these settings in this process's environment so ``--workers`` children rebuild them."""
        os.environ["SHORTLIST_SETTINGS_JSON"] = self.model_dump_json()


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"settings file {path} not found; pass an existing TOML file to --config")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None
    # accept both a flat file and one with a [serve] table
    return dict(data.get("serve", data))


def load_settings(file: str | Path | None = None, *, environ: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Merge defaults, the TOML ``file``, the environment and ``overrides`` (None values ignored)."""
    env = os.environ if environ is None else environ
    if "SHORTLIST_SETTINGS_JSON" in env and file is None and not any(v is not None for v in overrides.values()):
        return Settings.model_validate_json(env["SHORTLIST_SETTINGS_JSON"])
    data: dict[str, Any] = {}
    file = file or env.get("SHORTLIST_SETTINGS")
    if file:
        data.update(_read_file(Path(file)))
    for var, key in _ENV.items():
        if env.get(var) not in (None, ""):
            data[key] = env[var]
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "model_dir" not in data:
        raise ConfigError("no model folder given; pass --model-dir DIR (a folder written by `shortlist train`)")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, "invalid server settings", Settings, data, style="toml",
                           docs="docs/serving.md") from None

