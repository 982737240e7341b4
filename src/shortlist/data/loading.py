"""One entry point for ``--data``: a dataset folder, a table file, or ``synthetic:PRESET``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.data.dataset import Dataset
from shortlist.data.frames import check_table_file
from shortlist.data.headers import resolve_header
from shortlist.data.interactions import Interactions
from shortlist.errors import ConfigError, DataError

__all__ = ["load_data", "parse_columns", "parse_synthetic_spec"]

_ROLES = ("user", "item", "rating", "value", "weight", "time", "event")


def parse_columns(spec: str | None) -> dict[str, str]:
    """Parse ``"user=userId,item=movieId,rating=rating"`` into a role -> column dict.

    ``rating`` marks explicit ratings; ``value`` and ``weight`` (the same role) mark
    implicit strengths such as play counts. At most one of them may be given.
    """
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
    strengths = [r for r in ("rating", "value", "weight") if r in out]
    if len(strengths) > 1:
        raise ConfigError(
            f"--columns names {' and '.join(strengths)}; give one: rating= for explicit ratings, "
            "weight= (or value=) for counts or weights"
        )
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
    min_rating: float | None = None,
    k_core: int | None = None,
) -> Dataset:
    """Load what ``--data`` names.

    - ``synthetic:PRESET[,seed=N,key=value...]``: the built-in synthetic world;
    - a folder: a known dataset, format detected from its files (also a folder holding one
      ``user item item ...`` sequence file);
    - a CSV/TSV/Parquet file: interactions, with ``columns`` mapping roles to column names;
    - a ``user item item ...`` text file (one user per line, no header): without ``columns``.

    Then ``min_rating`` drops rows rated below it (first of all, for table files) and
    ``k_core`` keeps the k-core. Without ``weighting`` (or with ``"auto"``) the data loads
    with its default weighting, which a tuner may replace by the one that scores best on
    validation; ``"auto"`` also records ``info["weighting"] = "auto"``. A scheme given by name
    is recorded the same way (``info["weighting"] = "log"``) and a tuner keeps it. The
    result's ``info`` always has ``values``, ``time`` and ``notes`` (see
    :meth:`Dataset.record_load_facts`).
    """
    auto = isinstance(weighting, str) and weighting.strip().lower() == "auto"
    if auto:
        weighting = None
    min_rating = _check_min_rating(min_rating)
    k_core = _check_k_core(k_core)
    dataset, rated = _load(spec, columns, weighting, drop_duplicates, has_header, min_rating)
    dataset.record_load_facts()
    if min_rating is not None and not rated:
        dataset = _drop_low_ratings(dataset, min_rating)
    if k_core is not None and k_core > 1:
        dataset = dataset.k_core(k_core)
    if auto:
        dataset.info["weighting"] = "auto"
    elif weighting:  # chosen by the caller: a tuner must not replace it
        dataset.info["weighting"] = str(dataset.interactions.weighting)
    return dataset


def _load(
    spec: str | Path, columns: Any, weighting: str | None, drop_duplicates: bool, has_header: bool,
    min_rating: float | None,
) -> tuple[Dataset, bool]:
    """The dataset ``spec`` names, and whether ``min_rating`` was already applied."""
    text = str(spec)
    if text.startswith("synthetic"):
        from shortlist.data.world import generate_world

        preset, overrides = parse_synthetic_spec(text)
        seed = overrides.pop("seed", None)
        dataset = generate_world(preset, seed=seed, **overrides).dataset()
        if weighting:
            dataset.interactions = dataset.interactions.with_weighting(weighting)
        return dataset, False
    path = Path(text)
    if not path.exists():
        raise DataError(
            f"--data {text!r} does not exist; give a dataset folder, a CSV/Parquet file, or "
            "synthetic:PRESET (tiny/small/medium/large)"
        )
    if path.is_dir():
        from shortlist.data.datasets import load_dataset

        return load_dataset(path, weighting=weighting), False
    check_table_file(path)
    cols = parse_columns(columns) if isinstance(columns, str) or columns is None else dict(columns)
    if not cols:
        from shortlist.data.datasets.sequences import load_sequences, looks_like_sequences

        if looks_like_sequences(path):
            return load_sequences(path, weighting=weighting), False
        raise ConfigError(
            f"{path.name} is a table file: say which columns hold what, e.g. "
            "--columns user=userId,item=movieId[,rating=rating,time=timestamp] "
            "(weight=COL for play counts); a 'user item item ...' line-per-user file loads as is"
        )
    cols, has_header, header_note = resolve_header(path, cols, has_header)
    inter = Interactions.from_file(path, columns=cols, weighting=weighting,
                                   drop_duplicates=drop_duplicates, has_header=has_header,
                                   min_rating=min_rating)
    dataset = Dataset(name=path.stem, interactions=inter)
    if header_note:
        dataset.add_note(header_note)
    return dataset, True


def _check_min_rating(min_rating: float | None) -> float | None:
    """``min_rating`` as a float, or ConfigError naming the bad value."""
    if min_rating is None:
        return None
    try:
        value = float(min_rating)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(min_rating, bool) or not math.isfinite(value):
        raise ConfigError(f"--min-rating must be a number, got {min_rating!r}; e.g. --min-rating 4")
    return value


def _check_k_core(k_core: int | None) -> int | None:
    """``k_core`` as an int >= 1, or ConfigError naming the bad value."""
    if k_core is None:
        return None
    if isinstance(k_core, bool) or not isinstance(k_core, (int, np.integer)) or k_core < 1:
        raise ConfigError(f"--k-core must be a positive integer, got {k_core!r}; e.g. --k-core 5")
    return int(k_core)


def _drop_low_ratings(dataset: Dataset, min_rating: float) -> Dataset:
    """Drop events rated below ``min_rating`` from a loaded dataset (folders, synthetic)."""
    if dataset.info.get("values") != "ratings":
        raise ConfigError(
            f"--min-rating {min_rating:g} needs ratings, but the values of {dataset.name!r} are "
            f"{dataset.info.get('values')!r}; for a table file name the column with --columns "
            "...,rating=COL, or drop --min-rating"
        )
    it = dataset.interactions
    keep = it.value >= min_rating
    if not keep.any():
        raise DataError(
            f"no events of {dataset.name!r} have rating >= {min_rating:g} (ratings range "
            f"{float(it.value.min()):g}..{float(it.value.max()):g}); lower --min-rating"
        )
    out = dataset.restrict(keep)
    dropped = int((~keep).sum())
    out.add_note(f"dropped {dropped:,} rows with rating < {min_rating:g} "
                 f"({100.0 * dropped / it.n_events:.1f} %)")
    return out
