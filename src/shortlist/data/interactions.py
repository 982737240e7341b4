"""Interactions: user-item events and the weighted user x item CSR matrix built from them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting
from shortlist.errors import DataError

__all__ = ["Interactions"]


class Interactions:
    """Events between users and items, with vocabularies and a weighted CSR matrix.

    The per-event arrays (``user_index``, ``item_index``, ``value`` and the optional
    ``timestamp`` and ``event_type``) are kept so splits can cut by time or position; the
    model-facing view is :attr:`matrix`, a users x items ``float32`` CSR whose cells are
    combined by :attr:`weighting`. Splits and subsets share the vocabularies, so indices
    mean the same thing in train and test.
    """

    def __init__(
        self,
        users: Vocab,
        items: Vocab,
        user_index: np.ndarray,
        item_index: np.ndarray,
        value: np.ndarray | None = None,
        timestamp: np.ndarray | None = None,
        event_type: np.ndarray | None = None,
        event_types: tuple[str, ...] = (),
        weighting: Weighting | str | None = None,
        *,
        validate: bool = True,
    ) -> None:
        self.users = users
        self.items = items
        self.user_index = np.ascontiguousarray(user_index, dtype=np.int32)
        self.item_index = np.ascontiguousarray(item_index, dtype=np.int32)
        n = self.user_index.shape[0]
        self.value = (
            np.ones(n, np.float32) if value is None else np.ascontiguousarray(value, dtype=np.float32)
        )
        self.timestamp = None if timestamp is None else np.ascontiguousarray(timestamp, dtype=np.int64)
        self.event_type = None if event_type is None else np.ascontiguousarray(event_type, dtype=np.int16)
        self.event_types = tuple(event_types)
        self.weighting = Weighting.parse(weighting)
        if validate:
            self._validate()

    # -- checks ------------------------------------------------------------------------
    def _validate(self) -> None:
        n = self.user_index.shape[0]
        for name, arr in (("item_index", self.item_index), ("value", self.value),
                          ("timestamp", self.timestamp), ("event_type", self.event_type)):
            if arr is not None and arr.shape != (n,):
                raise DataError(f"{name} has shape {arr.shape}, expected ({n},) like user_index")
        if n and (self.user_index.min() < 0 or self.user_index.max() >= len(self.users)):
            raise DataError("user_index out of range of the users vocab")
        if n and (self.item_index.min() < 0 or self.item_index.max() >= len(self.items)):
            raise DataError("item_index out of range of the items vocab")
        bad = ~np.isfinite(self.value)
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} events have a NaN or infinite value/weight "
                f"(first at row {int(np.argmax(bad))}); drop or fill them before loading"
            )
        neg = self.value < 0
        if neg.any():
            raise DataError(
                f"{int(neg.sum())} events have a negative value/weight (e.g. {float(self.value[neg][0])}); "
                "implicit feedback weights must be >= 0 - drop them or shift the scale"
            )

    # -- basic facts -------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_events(self) -> int:
        return int(self.user_index.shape[0])

    def __len__(self) -> int:
        return self.n_events

    def __repr__(self) -> str:
        return (
            f"Interactions({self.n_users} users x {self.n_items} items, {self.n_events} events, "
            f"{self.matrix.nnz} cells, weighting={self.weighting})"
        )

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x items CSR (float32, sorted indices) of weighted cells."""
        contrib, keep = self.weighting.event_weights(self.value, self.timestamp)
        rows, cols = self.user_index, self.item_index
        if keep is not None:
            rows, cols = rows[keep], cols[keep]
        m = sp.csr_matrix(
            (contrib, (rows, cols)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        m.data = self.weighting.finish(m.data)
        m.eliminate_zeros()
        return m

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def user_counts(self) -> np.ndarray:
        """Number of distinct items per user."""
        return np.diff(self.matrix.indptr)

    def item_counts(self) -> np.ndarray:
        """Number of distinct users per item."""
        return np.bincount(self.matrix.indices, minlength=self.n_items)

    # -- derived datasets --------------------------------------------------------------
    def subset(self, mask: np.ndarray) -> "Interactions":
        """Events where ``mask`` is true, same vocabs and weighting."""
        mask = np.asarray(mask)
        return Interactions(
            self.users, self.items, self.user_index[mask], self.item_index[mask], self.value[mask],
            None if self.timestamp is None else self.timestamp[mask],
            None if self.event_type is None else self.event_type[mask],
            self.event_types, self.weighting, validate=False,
        )

    def with_weighting(self, weighting: Weighting | str) -> "Interactions":
        """Same events, other weighting scheme."""
        return Interactions(
            self.users, self.items, self.user_index, self.item_index, self.value, self.timestamp,
            self.event_type, self.event_types, weighting, validate=False,
        )

    def with_vocabs(self, users: Vocab, items: Vocab) -> "Interactions":
        """Re-index onto larger vocabs that extend the current ones (indices are kept)."""
        if len(users) < self.n_users or len(items) < self.n_items:
            raise DataError("with_vocabs needs vocabs that extend the current ones")
        return Interactions(
            users, items, self.user_index, self.item_index, self.value, self.timestamp,
            self.event_type, self.event_types, self.weighting, validate=False,
        )

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_matrix(
        cls,
        matrix: Any,
        *,
        users: Vocab | None = None,
        items: Vocab | None = None,
        weighting: Weighting | str = "value",
    ) -> "Interactions":
        """Build from a scipy sparse users x items matrix (its values become event values)."""
        if not sp.issparse(matrix):
            raise DataError(
                f"from_matrix needs a scipy.sparse matrix, got {type(matrix).__name__}; "
                "wrap dense arrays with scipy.sparse.csr_matrix(array)"
            )
        coo = sp.coo_matrix(matrix)
        coo.sum_duplicates()
        n_users, n_items = coo.shape
        if coo.nnz == 0:
            raise DataError("the matrix has no non-zero entries: nothing to learn from")
        users = users or Vocab.range(n_users)
        items = items or Vocab.range(n_items)
        if len(users) != n_users or len(items) != n_items:
            raise DataError(
                f"vocab sizes ({len(users)} users, {len(items)} items) differ from the matrix "
                f"shape {coo.shape}"
            )
        return cls(users, items, coo.row, coo.col, coo.data, weighting=weighting)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        user: str = "user_id",
        item: str = "item_id",
        value: str | None = None,
        time: str | None = None,
        event: str | None = None,
        weighting: Weighting | str | None = None,
        drop_duplicates: bool = False,
        users: Vocab | None = None,
        items: Vocab | None = None,
    ) -> "Interactions":
        """Build from a polars or pandas DataFrame with the given column names.

        Exact duplicate rows (same user, item, time, event and value) are an error unless
        ``drop_duplicates=True``: they usually mean a file was appended twice. Genuine
        repeats carry distinct timestamps and are kept.
        """
        from shortlist.data.frames import to_polars

        df = to_polars(frame)
        wanted = {"user": user, "item": item, "value": value, "time": time, "event": event}
        missing = [f"{role}={col!r}" for role, col in wanted.items() if col and col not in df.columns]
        if missing:
            raise DataError(
                f"column(s) not found: {', '.join(missing)}; the data has columns {df.columns}. "
                "Pass the right names, e.g. --columns user=userId,item=movieId"
            )
        if df.height == 0:
            raise DataError("the data is empty (0 rows): nothing to learn from")
        cols = [c for c in (user, item, value, time, event) if c]
        nulls = {c: int(df[c].null_count()) for c in cols if df[c].null_count()}
        if nulls:
            raise DataError(f"missing values in columns {nulls}; drop or fill those rows first")
        dup_mask = df.select(cols).is_duplicated().to_numpy()
        if dup_mask.any():
            if not drop_duplicates:
                first = df.filter(dup_mask).row(0, named=True)
                raise DataError(
                    f"{int(dup_mask.sum())} rows are exact duplicates (e.g. {first}); pass "
                    "drop_duplicates=True (CLI: --drop-duplicates) to keep one of each, or add a "
                    "timestamp column if they are genuine repeats"
                )
            df = df.unique(subset=cols, keep="first", maintain_order=True)
        u_vals, i_vals = df[user].to_numpy(), df[item].to_numpy()
        if users is None:
            users, u_idx = Vocab.from_values(u_vals)
        else:
            u_idx = users.index(u_vals, what="user")
        if items is None:
            items, i_idx = Vocab.from_values(i_vals)
        else:
            i_idx = items.index(i_vals, what="item")
        vals = None
        if value:
            if not df[value].dtype.is_numeric():
                raise DataError(f"value column {value!r} has type {df[value].dtype}, expected numbers")
            vals = df[value].cast(float).to_numpy()
        ts = _to_epoch_seconds(df[time]) if time else None
        ev, ev_names = None, ()
        if event:
            ev_vocab, ev = Vocab.from_values(df[event].cast(str).to_numpy())
            ev_names = tuple(ev_vocab.ids.tolist())
        if weighting is None:
            weighting = "binary"
        return cls(users, items, u_idx, i_idx, vals, ts, ev, ev_names, weighting)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        columns: Mapping[str, str] | None = None,
        sep: str | None = None,
        has_header: bool = True,
        **kwargs: Any,
    ) -> "Interactions":
        """Build from a CSV, TSV or Parquet file; ``columns`` maps role -> column name.

        Roles: ``user``, ``item``, ``value`` (or ``weight``), ``time``, ``event``.
        """
        from shortlist.data.frames import read_table

        columns = dict(columns or {})
        if "weight" in columns:
            columns["value"] = columns.pop("weight")
        unknown = set(columns) - {"user", "item", "value", "time", "event"}
        if unknown:
            raise DataError(
                f"unknown column role(s) {sorted(unknown)}; use user=, item=, value= (or weight=), "
                "time=, event="
            )
        df = read_table(path, sep=sep, has_header=has_header)
        return cls.from_frame(df, **columns, **kwargs)


def _to_epoch_seconds(col: Any) -> np.ndarray:
    """Timestamps as int64 seconds since the epoch (numbers pass through, datetimes convert)."""
    import polars as pl

    if col.dtype.is_temporal():
        return col.cast(pl.Datetime("us")).dt.epoch("s").to_numpy().astype(np.int64)
    if col.dtype.is_numeric():
        return col.cast(pl.Int64).to_numpy()
    try:
        return col.str.to_datetime().dt.epoch("s").to_numpy().astype(np.int64)
    except Exception as exc:  # polars raises several types for unparsable text
        raise DataError(
            f"time column {col.name!r} is neither numeric nor a parsable date ({exc}); "
            "give seconds since the epoch or ISO dates"
        ) from exc
