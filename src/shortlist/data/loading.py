"""One entry point for ``--data``: a dataset folder, a table file, or ``synthetic:PRESET``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shortlist.data.dataset import Dataset
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, DataError

__all__ = ["load_data", "parse_columns", "parse_synthetic_spec"]

_ROLES = ("user", "item", "value", "weight", "time", "event")


def parse_columns(spec: str | None) -> dict[str, str]:
    """Parse ``"user=userId,item=movieId,weight=rating"`` into a role -> column dict."""
    if not spec:
        return {}
    out: dict[str, str] = {}
    for part in spec.split(","):
        role, sep, col = part.partition("=")
        role, col = role.strip(), col.strip()
        if not sep or not col:
            raise ConfigError(f"--columns entry {part!r} must look like role=COLUMN, e.g. user=userId")
        if role not in _ROLES:
            raise ConfigError(f"--columns role {role!r} is unknown; use {', '.join(_ROLES)}")
        out[role] = col
    if "user" not in out or "item" not in out:
        raise ConfigError("--columns must name at least user=... and item=... columns")
    return out


def parse_synthetic_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``"synthetic:small,seed=3,n_users=500"`` into (preset, overrides)."""
    body = spec.split(":", 1)[1] if ":" in spec else ""
    parts = [p.strip() for p in body.split(",") if p.strip()]
    if not parts:
        raise ConfigError("synthetic data needs a preset, e.g. synthetic:small (tiny/small/medium/large)")
    preset, overrides = parts[0], {}
    for p in parts[1:]:
        key, sep, val = p.partition("=")
        if not sep:
            raise ConfigError(f"synthetic option {p!r} must look like key=value, e.g. seed=7")
        try:
            overrides[key.strip()] = int(val)
        except ValueError:
            try:
                overrides[key.strip()] = float(val)
            except ValueError:
                overrides[key.strip()] = val
    return preset, overrides


def load_data(
    spec: str | Path,
    *,
    columns: str | dict[str, str] | None = None,
    weighting: str | None = None,
    drop_duplicates: bool = False,
    has_header: bool = True,
) -> Dataset:
    """Load what ``--data`` names.

    - ``synthetic:PRESET[,seed=N,key=value...]``: the built-in synthetic world;
    - a folder: a known dataset, format detected from its files;
    - a CSV/TSV/Parquet file: interactions, with ``columns`` mapping roles to column names.
    """
    text = str(spec)
    if text.startswith("synthetic"):
        from shortlist.data.world import generate_world

        preset, overrides = parse_synthetic_spec(text)
        seed = overrides.pop("seed", None)
        dataset = generate_world(preset, seed=seed, **overrides).dataset()
        if weighting:
            dataset.interactions = dataset.interactions.with_weighting(weighting)
        return dataset
    path = Path(text)
    if not path.exists():
        raise DataError(
            f"--data {text!r} does not exist; give a dataset folder, a CSV/Parquet file, or "
            "synthetic:PRESET (tiny/small/medium/large)"
        )
    if path.is_dir():
        from shortlist.data.datasets import load_dataset

        return load_dataset(path, weighting=weighting)
    cols = parse_columns(columns) if isinstance(columns, str) or columns is None else dict(columns)
    if not cols:
        raise ConfigError(
            f"{path.name} is a table file: say which columns hold what, e.g. "
            "--columns user=userId,item=movieId[,weight=rating,time=timestamp]"
        )
    inter = Interactions.from_file(path, columns=cols, weighting=weighting, drop_duplicates=drop_duplicates,
                                   has_header=has_header)
    return Dataset(name=path.stem, interactions=inter)
