"""Which feature columns feed which item attribute (:class:`AttributeColumns`), and reading them.

:func:`attribute_arrays` turns an item :class:`FeatureTable` (and the user table, for home
locations) into the arrays :class:`~shortlist.rules.attributes.ItemAttributes` is built from,
checking each column's kind with an error that names the attribute, the column and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from shortlist.data.features import FeatureTable
from shortlist.errors import ConfigError

__all__ = ["AttributeColumns", "attribute_arrays"]


class AttributeColumns(BaseModel):
    """Which feature column feeds which attribute (every key optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str | None = Field(
        None, description="the name of a categorical (or numeric) item column"
    )
    creator: str | None = Field(
        None, description="the name of a categorical (or numeric) item column"
    )
    price: str | None = Field(None, description="the name of a numeric item column")
    lat: str | None = Field(None, description="the name of a numeric item column (degrees)")
    lon: str | None = Field(None, description="the name of a numeric item column (degrees)")
    publish_time: str | None = Field(None, description="the name of a numeric item column")
    available_from: str | None = Field(None, description="the name of a numeric item column")
    available_until: str | None = Field(None, description="the name of a numeric item column")
    duplicate_group: str | None = Field(
        None, description="the name of a categorical, numeric or text item column"
    )
    content_hash: str | None = Field(
        None, description="the name of a categorical, numeric or text item column"
    )
    sensitive: str | list[str] | None = Field(
        None,
        description="item column name(s): numeric (non-zero = flagged), categorical or multi "
        "(each value a flag)",
    )
    text: str | None = Field(None, description="the name of a text or multi item column")
    vectors: str | list[str] | None = Field(
        None, description="item column name(s) for FeatureTable.matrix"
    )
    home_lat: str | None = Field(None, description="the name of a numeric column of the user table")
    home_lon: str | None = Field(None, description="the name of a numeric column of the user table")
    time_origin: float = Field(
        0.0, description="a number: epoch seconds of time value 0 in the time columns"
    )
    time_unit_s: float = Field(
        1.0,
        gt=0,
        description="a positive number: seconds per unit of the time columns (86400 for days)",
    )


def attribute_arrays(table: FeatureTable, cols: AttributeColumns, *, users: FeatureTable | None = None,
                     vectors: Any = None) -> dict[str, Any]:
    """The ItemAttributes keyword arguments read from ``table`` (and ``users``) as ``cols`` maps them.

    ``vectors`` (an items x d array) overrides ``cols.vectors``.
    """
    kwargs: dict[str, Any] = {}
    _read_coded(table, cols, kwargs)
    for name in ("price", "lat", "lon"):
        if getattr(cols, name):
            kwargs[name] = _read_numeric(table, name, getattr(cols, name))
    for name in ("publish_time", "available_from", "available_until"):
        if getattr(cols, name):
            kwargs[name] = cols.time_origin + cols.time_unit_s * _read_numeric(table, name, getattr(cols, name))
    if cols.sensitive:
        kwargs["sensitive"], kwargs["sensitive_names"] = _read_flags(table, cols.sensitive)
    if cols.text:
        kind = _kind(table, "text", cols.text, ("text", "multi"))
        kwargs["text"] = table.text(cols.text) if kind == "text" else table.multi_hot(cols.text)[0]
    if vectors is not None:
        kwargs["vectors"] = vectors
    elif cols.vectors:
        kwargs["vectors"] = _read_vectors(table, cols.vectors)
    if cols.home_lat or cols.home_lon:
        kwargs["home"] = _read_home(users, cols)
    return kwargs


def _read_coded(table: FeatureTable, cols: AttributeColumns, kwargs: dict[str, Any]) -> None:
    """The code attributes (category, creator with their names; duplicate_group, content_hash) into ``kwargs``."""
    for name in ("category", "creator"):
        if getattr(cols, name):
            kwargs[name], kwargs[f"{name}_names"] = _read_codes(
                table, name, getattr(cols, name), ("categorical", "numeric")
            )
    for name in ("duplicate_group", "content_hash"):
        if getattr(cols, name):
            kwargs[name] = _read_codes(table, name, getattr(cols, name), ("categorical", "numeric", "text"))[0]


def _read_vectors(table: FeatureTable, columns: str | list[str]) -> Any:
    """The item x d matrix of the ``vectors`` column(s)."""
    names = [columns] if isinstance(columns, str) else list(columns)
    for n in names:
        _kind(table, "vectors", n, ("categorical", "multi", "numeric"))
    return table.matrix(names)


def _read_home(users: FeatureTable | None, cols: AttributeColumns) -> np.ndarray:
    """User home locations (lat, lon) from the user table's ``home_lat`` / ``home_lon`` columns."""
    if users is None or not (cols.home_lat and cols.home_lon):
        raise ConfigError(
            f"home_lat={cols.home_lat!r}, home_lon={cols.home_lon!r}: a home location "
            "needs both columns and users=<user FeatureTable>; fix: give both and the table"
        )
    return np.stack([_read_numeric(users, "home_lat", cols.home_lat),
                     _read_numeric(users, "home_lon", cols.home_lon)], axis=1)


def _kind(table: FeatureTable, attr: str, column: str, allowed: tuple[str, ...]) -> str:
    if column not in table:
        raise ConfigError(
            f"attribute {attr}={column!r}: no such feature column; fix: use one of "
            f"{', '.join(table.names) or '(the table has no columns)'}"
        )
    kind = table.kinds[column]
    if kind not in allowed:
        raise ConfigError(
            f"attribute {attr}={column!r} is a {kind} column; fix: map {attr} to a "
            f"{' or '.join(allowed)} column"
        )
    return kind


def _read_numeric(table: FeatureTable, attr: str, column: str) -> np.ndarray:
    _kind(table, attr, column, ("numeric",))
    return table.numeric(column).astype(np.float64)


def _read_codes(
    table: FeatureTable, attr: str, column: str, allowed: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    kind = _kind(table, attr, column, allowed)
    if kind == "categorical":
        codes, names = table.categorical(column)
        return codes.astype(np.int64), names
    if kind == "numeric":
        v = table.numeric(column)
        return _codes(v, np.isnan(v))
    v = table.text(column)
    return _codes(v, v == "")


def _read_flags(
    table: FeatureTable, columns: str | list[str]
) -> tuple[sp.csr_matrix, tuple[str, ...]]:
    parts, names = [], []
    for column in [columns] if isinstance(columns, str) else columns:
        kind = _kind(table, "sensitive", column, ("numeric", "categorical", "multi"))
        if kind == "numeric":
            v = table.numeric(column)
            parts.append(sp.csr_matrix((np.nan_to_num(v) != 0).astype(np.float32)[:, None]))
            names.append(column)
        elif kind == "categorical":
            parts.append(table.one_hot(column))
            names.extend(table.categorical(column)[1])
        else:
            m, tokens = table.multi_hot(column)
            parts.append(m)
            names.extend(tokens)
    return sp.hstack(parts, format="csr", dtype=np.float32), tuple(names)


def _codes(values: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dense int codes for arbitrary values (-1 where ``missing``)."""
    codes = np.full(values.shape[0], -1, np.int64)
    uniq, inv = np.unique(values[~missing], return_inverse=True)
    codes[~missing] = inv.ravel()
    return codes, tuple(str(u) for u in uniq.tolist())
