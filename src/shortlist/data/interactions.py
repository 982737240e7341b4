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
from shortlist.errors import ConfigError, DataError

__all__ = ["Interactions"]


class Interactions:
    """Events between users and items, with vocabularies and a weighted CSR matrix.

    The per-event arrays (``user_index``, ``item_index``, ``value`` and the optional
    ``timestamp`` and ``event_type``) are kept so splits can cut by time or position; the
    model-facing view is :attr:`matrix`, a users x items ``float32`` CSR whose cells are
    combined by :attr:`weighting`. Splits and subsets share the vocabularies, so indices
    mean the same thing in train and test.

    ``load_info`` holds what :meth:`from_frame` learnt while loading (``"values"``: "ratings",
    "weights" or "none"; ``"notes"``: human lines on dropped or repeated rows); derived
    interactions (subsets, splits) start with an empty one.
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
        self.load_info: dict[str, Any] = {}
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

    @property
    def event_order(self) -> np.ndarray:
        """What to sort events by in time: ``timestamp`` when known, else the row position.

        Row position (int64 ``0..n-1``) is the order of the rows in the loaded file, which
        for logs and the one-user-per-line sequence format is the order the events happened
        (per user). ``timestamp`` itself stays ``None`` when there is none.
        """
        if self.timestamp is not None:
            return self.timestamp
        return np.arange(self.n_events, dtype=np.int64)

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

    def keep_entities(self, user_rows: np.ndarray, item_rows: np.ndarray) -> "Interactions":
        """Events among ``user_rows`` x ``item_rows`` only, on vocabs of just those entities.

        Indices are rebuilt dense (0..n-1) in the old order, so ``user_rows`` and
        ``item_rows`` (old indices) also give the rows of aligned feature tables.
        """
        user_rows = np.unique(np.asarray(user_rows, np.int64))
        item_rows = np.unique(np.asarray(item_rows, np.int64))
        umap = np.full(self.n_users, -1, np.int64)
        umap[user_rows] = np.arange(user_rows.size)
        imap = np.full(self.n_items, -1, np.int64)
        imap[item_rows] = np.arange(item_rows.size)
        u, i = umap[self.user_index], imap[self.item_index]
        keep = (u >= 0) & (i >= 0)
        return Interactions(
            Vocab(self.users.ids[user_rows]), Vocab(self.items.ids[item_rows]), u[keep], i[keep],
            self.value[keep], None if self.timestamp is None else self.timestamp[keep],
            None if self.event_type is None else self.event_type[keep], self.event_types,
            self.weighting, validate=False,
        )

    def k_core_mask(self, k: int) -> np.ndarray:
        """Events of the ``k``-core: users and items with >= ``k`` distinct partners, repeatedly.

        Removing a user can push an item below ``k`` and the other way round, so this
        repeats until nothing changes. Counts are of distinct (user, item) cells, so
        repeated events do not keep an entity in.
        """
        keys = self.user_index.astype(np.int64) * self.n_items + self.item_index
        cells, inverse = np.unique(keys, return_inverse=True)
        cu, ci = cells // self.n_items, cells % self.n_items
        alive = np.ones(cells.size, bool)
        while True:
            uc = np.bincount(cu[alive], minlength=self.n_users)
            ic = np.bincount(ci[alive], minlength=self.n_items)
            drop = alive & ((uc[cu] < k) | (ic[ci] < k))
            if not drop.any():
                return alive[inverse.ravel()]
            alive &= ~drop

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
        rating: str | None = None,
        time: str | None = None,
        event: str | None = None,
        weighting: Weighting | str | None = None,
        drop_duplicates: bool = False,
        min_rating: float | None = None,
        users: Vocab | None = None,
        items: Vocab | None = None,
    ) -> "Interactions":
        """Build from a polars or pandas DataFrame with the given column names.

        ``value`` names implicit strengths (play counts, weights), ``rating`` explicit
        ratings; ``load_info["values"]`` records which ("weights", "ratings" or "none").
        Rows are handled in this order, each step adding a line to ``load_info["notes"]``:

        1. ``min_rating``: rows whose rating is below it are dropped (needs ``rating``);
        2. ``drop_duplicates``: of rows equal in every used column, the first is kept;
        3. ratings: a repeated (user, item) keeps only its latest rating (by ``time``, else
           by row order) - a re-rating replaces the old one;
        4. implicit data: repeated (user, item) rows are repeated interactions and all are
           kept (per-event arrays see every event); without a ``weighting`` the cells count
           them ("count"), else the weighting combines them (``value`` sums the weights).

        Default weighting when ``weighting`` is None: "value" for ratings (the cell weight is
        the rating), "count" for implicit data with repeated rows, "binary" otherwise.
        """
        from shortlist.data.frames import to_polars

        df = to_polars(frame)
        if value and rating:
            raise DataError(
                f"both value={value!r} and rating={rating!r} given; name one strength column: "
                "rating= for explicit ratings, value= (or weight=) for counts or weights"
            )
        wanted = {"user": user, "item": item, "value": value, "rating": rating, "time": time,
                  "event": event}
        missing = [f"{role}={col!r}" for role, col in wanted.items() if col and col not in df.columns]
        if missing:
            raise DataError(
                f"column(s) not found: {', '.join(missing)}; the data has columns {df.columns}. "
                "Pass the right names, e.g. --columns user=userId,item=movieId"
            )
        if df.height == 0:
            raise DataError("the data is empty (0 rows): nothing to learn from")
        strength = value or rating
        cols = [c for c in (user, item, strength, time, event) if c]
        nulls = {c: int(df[c].null_count()) for c in cols if df[c].null_count()}
        if nulls:
            raise DataError(f"missing values in columns {nulls}; drop or fill those rows first")
        if strength:
            _check_numeric(df, strength, "rating" if rating else "value")
        notes: list[str] = []
        if min_rating is not None:
            df = _drop_low_ratings(df, rating, min_rating, notes)
        if drop_duplicates:
            df = _drop_exact_duplicates(df, cols, notes)
        u_vals, i_vals = df[user].to_numpy(), df[item].to_numpy()
        if users is None:
            users, u_idx = Vocab.from_values(u_vals)
        else:
            u_idx = users.index(u_vals, what="user")
        if items is None:
            items, i_idx = Vocab.from_values(i_vals)
        else:
            i_idx = items.index(i_vals, what="item")
        vals = df[strength].cast(float).to_numpy() if strength else None
        ts = _to_epoch_seconds(df[time]) if time else None
        ev, ev_names = None, ()
        if event:
            ev_vocab, ev = Vocab.from_values(df[event].cast(str).to_numpy())
            ev_names = tuple(ev_vocab.ids.tolist())
        keys = np.asarray(u_idx, np.int64) * len(items) + np.asarray(i_idx, np.int64)
        n_rows = keys.size
        if rating:
            keep = _latest_per_cell(keys, ts)
            n_rep = int(n_rows - keep.sum())
            if n_rep:
                by = "time" if ts is not None else "row order"
                notes.append(
                    f"{n_rep:,} repeated user-item ratings ({_share(n_rep, n_rows)}): kept the "
                    f"latest rating of each pair (by {by})"
                )
                u_idx, i_idx, vals = u_idx[keep], i_idx[keep], vals[keep]
                ts = None if ts is None else ts[keep]
                ev = None if ev is None else ev[keep]
            if weighting is None:
                weighting = "value"
        else:
            n_rep = int(n_rows - np.unique(keys).size)
            if weighting is None:
                weighting = "count" if n_rep else "binary"
            if n_rep:
                scheme = Weighting.parse(weighting)
                notes.append(_repeat_note(n_rep, n_rows, scheme, has_value=bool(value)))
        inter = cls(users, items, u_idx, i_idx, vals, ts, ev, ev_names, weighting)
        inter.load_info = {"values": "ratings" if rating else "weights" if value else "none",
                           "notes": notes}
        return inter

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

        Roles: ``user``, ``item``, ``rating`` (explicit ratings) or ``value`` / ``weight``
        (implicit strengths), ``time``, ``event``. Other keyword arguments go to
        :meth:`from_frame`; its errors are prefixed with the file's path.
        """
        from shortlist.data.frames import read_table

        columns = dict(columns or {})
        if "weight" in columns:
            if "value" in columns:
                raise DataError("columns name both weight= and value=; it is one role, keep one")
            columns["value"] = columns.pop("weight")
        unknown = set(columns) - {"user", "item", "value", "rating", "time", "event"}
        if unknown:
            raise DataError(
                f"unknown column role(s) {sorted(unknown)}; use user=, item=, rating=, value= "
                "(or weight=), time=, event="
            )
        df = read_table(path, sep=sep, has_header=has_header)
        try:
            return cls.from_frame(df, **columns, **kwargs)
        except DataError as exc:
            if type(exc) is not DataError:  # subclasses carry extra fields; leave them as they are
                raise
            raise DataError(f"{path}: {exc}") from exc


_REPEAT_EFFECT = {
    "count": "cell weight = number of events",
    "value": "cell weight = sum of their values",
    "log": "cell weight = log(1 + sum of their values)",
    "time-decay": "cell weight = time-decayed sum of their values",
    "binary": "all events kept, but weighting binary gives each user-item pair weight 1",
    "threshold": "all events kept; weighting threshold keeps a pair whose largest value reaches it",
}


def _share(n: int, total: int) -> str:
    """``n`` as a percentage of ``total`` for notes ("1.2 %", "< 0.1 %")."""
    pct = 100.0 * n / max(total, 1)
    return "< 0.1 %" if 0 < pct < 0.05 else f"{pct:.1f} %"


def _repeat_note(n_rep: int, n_rows: int, weighting: Weighting, *, has_value: bool) -> str:
    """The note line on repeated (user, item) rows of implicit data under ``weighting``."""
    line = (f"{n_rep:,} repeated user-item rows ({_share(n_rep, n_rows)}) counted as repeated "
            f"interactions: {_REPEAT_EFFECT[weighting.kind]}")
    if has_value and weighting.kind == "count":
        line += " (weighting value or log uses the weight column instead)"
    return line


def _check_numeric(df: Any, col: str, role: str) -> None:
    """Raise DataError naming a non-numeric value of ``col`` (the ``role`` column)."""
    import polars as pl

    if df[col].dtype.is_numeric():
        return
    parsed = df[col].cast(pl.Float64, strict=False)
    bad = df[col].filter(parsed.is_null() & df[col].is_not_null())
    example = f" (e.g. {bad[0]!r})" if bad.len() else ""
    raise DataError(
        f"{role} column {col!r} has type {df[col].dtype}{example}, expected numbers; fix or drop "
        f"the non-numeric rows, or name the right column with --columns ...,{role}=COL"
    )


def _drop_low_ratings(df: Any, rating: str | None, min_rating: float, notes: list[str]) -> Any:
    """Rows of ``df`` whose ``rating`` is at least ``min_rating``; adds a note on the rest."""
    import polars as pl

    if not rating:
        raise ConfigError(
            f"min_rating={min_rating:g} needs a rating column, but none is named; mark it as "
            f"ratings with --columns ...,rating=COL (Python: rating='COL'), or drop --min-rating"
        )
    kept = df.filter(pl.col(rating) >= min_rating)
    dropped = df.height - kept.height
    if kept.height == 0:
        raise DataError(
            f"no rows have {rating} >= {min_rating:g} (ratings range {df[rating].min()}.."
            f"{df[rating].max()}); lower --min-rating"
        )
    share = _share(dropped, df.height)
    notes.append(f"dropped {dropped:,} rows with rating < {min_rating:g} ({share})")
    return kept


def _drop_exact_duplicates(df: Any, cols: list[str], notes: list[str]) -> Any:
    """``df`` with one row of each group of rows equal in ``cols``; adds a note with the count."""
    kept = df.unique(subset=cols, keep="first", maintain_order=True)
    dropped = df.height - kept.height
    notes.append(
        f"dropped {dropped:,} exact duplicate rows ({_share(dropped, df.height)}), keeping one of "
        "each (--drop-duplicates)"
    )
    return kept


def _latest_per_cell(keys: np.ndarray, ts: np.ndarray | None) -> np.ndarray:
    """Mask of the row holding each cell's latest event (by time; ties and no time: last row)."""
    row = np.arange(keys.size)
    order = np.lexsort((row, keys)) if ts is None else np.lexsort((row, ts, keys))
    skeys = keys[order]
    last = np.r_[skeys[1:] != skeys[:-1], True] if skeys.size else np.zeros(0, bool)
    keep = np.zeros(keys.size, bool)
    keep[order[last]] = True
    return keep


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
