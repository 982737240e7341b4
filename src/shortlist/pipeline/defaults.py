"""Where the pipeline configs shipped with Shortlist live."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONFIG_DIR", "default_config_path"]

#: configs shipped inside the package (the repository's ``configs/`` points here)
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def default_config_path() -> Path:
    """The default pipeline spec (``configs/default.toml``)."""
    return CONFIG_DIR / "default.toml"
