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
        from shortlist.data.from_frame import interactions_from_frame

        return interactions_from_frame(
            cls, frame, user=user, item=item, value=value, rating=rating, time=time, event=event,
            weighting=weighting, drop_duplicates=drop_duplicates, min_rating=min_rating, users=users, items=items)

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
        from shortlist.data.from_frame import interactions_from_file

        return interactions_from_file(cls, path, columns=columns, sep=sep, has_header=has_header, **kwargs)
