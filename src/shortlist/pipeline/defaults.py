"""Where the pipeline configs shipped with Shortlist live."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONFIG_DIR", "default_config_path", "world_config_path"]

#: configs shipped inside the package (the repository's ``configs/`` points here)
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def default_config_path() -> Path:
    """The generic default pipeline (``configs/default.toml``): runs on any interactions table."""
    return CONFIG_DIR / "default.toml"


def world_config_path() -> Path:
    """The pipeline for the built-in synthetic world (``configs/world.toml``): uses its features."""
    return CONFIG_DIR / "world.toml"
