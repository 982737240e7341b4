"""Vocab: a stable mapping between external ids (str or int) and dense indices 0..n-1."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from shortlist.errors import DataError, UnknownIdError

__all__ = ["Vocab"]


def _as_id_array(ids: Any) -> np.ndarray:
    """Turn a sequence of ids into an int64 or unicode numpy array."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        return ids.astype(np.int64, copy=False)
    if isinstance(ids, np.ndarray) and ids.dtype.kind == "U":
        return ids
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "b":
        raise DataError("ids must be str or int, got booleans; map them to str or int first")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataError(
                "ids must be str or int, got non-integral floats (e.g. NaN); "
                "drop rows with missing ids or cast the id column to str"
            )
        return arr.astype(np.int64)
    return arr.astype(str)


class Vocab:
    """Map external ids to dense indices and back.

    Ids are all ints or all strings. Lookups are vectorized (binary search over a sorted
    copy), so mapping millions of ids costs milliseconds. Indices follow the order in which
    ids were given; :meth:`extend` appends new ids without moving existing ones, so a model
    trained on an older vocab stays valid.
    """

    def __init__(self, ids: Iterable[Any]) -> None:
        arr = _as_id_array(ids)
        if arr.ndim != 1:
            raise DataError(f"Vocab ids must be one-dimensional, got shape {arr.shape}")
        order = np.argsort(arr, kind="stable")
        sorted_ids = arr[order]
        if sorted_ids.size > 1 and np.any(sorted_ids[1:] == sorted_ids[:-1]):
            dup = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0]
            raise DataError(f"Vocab ids must be unique; {dup!r} appears more than once")
        self._ids = arr
        self._order = order
        self._sorted = sorted_ids

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Any) -> tuple["Vocab", np.ndarray]:
        """Build a vocab from a column of (repeated) ids; return it and each value's index.

        Ids are ordered by first appearance, which keeps indices stable across reloads of
        the same file.
        """
        arr = _as_id_array(values)
        uniq, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return cls(uniq[order]), rank[inverse.ravel()].astype(np.int64)

    @classmethod
    def range(cls, n: int) -> "Vocab":
        """Vocab whose ids are the integers 0..n-1 (ids equal indices)."""
        return cls(np.arange(int(n), dtype=np.int64))

    def extend(self, ids: Iterable[Any]) -> "Vocab":
        """Return a new vocab with unseen ids appended (existing indices unchanged)."""
        arr = _as_id_array(ids)
        if arr.size == 0:
            return self
        arr = self._coerce(arr)
        known = self.contains(arr)
        new = arr[~known]
        if new.size == 0:
            return self
        _, first = np.unique(new, return_index=True)
        new = new[np.sort(first)]
        return Vocab(np.concatenate([self._ids, new]))

    # -- lookups -----------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        """External ids in index order (read-only view)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def kind(self) -> str:
        """'int' or 'str'."""
        return "int" if self._ids.dtype.kind in "iu" else "str"

    def __len__(self) -> int:
        return int(self._ids.size)

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in self._ids[:3].tolist())
        return f"Vocab({len(self)} {self.kind} ids: {head}{', ...' if len(self) > 3 else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.kind == other.kind and np.array_equal(self._ids, other._ids)

    def __hash__(self) -> int:  # pragma: no cover - vocabs are not dict keys
        return id(self)

    def __contains__(self, id_: Any) -> bool:
        return bool(self.contains(np.asarray([id_]))[0])

    def _coerce(self, arr: np.ndarray) -> np.ndarray:
        """Cast query ids to this vocab's kind ("42" finds 42 in an int vocab)."""
        if self.kind == "int" and arr.dtype.kind not in "iu":
            try:
                return np.asarray(arr, dtype=str).astype(np.int64)
            except ValueError:
                return np.full(arr.shape, np.iinfo(np.int64).min, dtype=np.int64)
        if self.kind == "str" and arr.dtype.kind != "U":
            return arr.astype(str)
        return arr

    def _positions(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arr = self._coerce(arr)
        if self._sorted.size == 0:
            return np.zeros(arr.shape, np.int64), np.zeros(arr.shape, bool)
        pos = np.searchsorted(self._sorted, arr)
        pos = np.minimum(pos, self._sorted.size - 1)
        found = self._sorted[pos] == arr
        return self._order[pos], found

    def contains(self, ids: Any) -> np.ndarray:
        """Boolean mask: which of ``ids`` are known."""
        arr = _as_id_array([ids] if np.isscalar(ids) else ids)
        return self._positions(arr)[1]

    def index(self, ids: Any, *, missing: str = "raise", what: str = "id") -> np.ndarray:
        """Indices of ``ids``.

        ``missing="raise"`` raises :class:`UnknownIdError` naming the unknown ids;
        ``missing="ignore"`` returns -1 for them (the caller routes them to cold start).
        """
        scalar = np.isscalar(ids) or isinstance(ids, str)
        arr = _as_id_array([ids] if scalar else ids)
        idx, found = self._positions(arr)
        if not found.all():
            if missing == "raise":
                unknown = arr[~found][:5].tolist()
                more = f" (and {int((~found).sum()) - 5} more)" if (~found).sum() > 5 else ""
                raise UnknownIdError(
                    f"unknown {what} {unknown}{more}: not in the {len(self)} {what}s seen in training; "
                    "fold them in (fold_in_users/fold_in_items) or filter them out first",
                    ids=unknown,
                )
            idx = np.where(found, idx, -1)
        return idx[0] if scalar else idx

    def lookup(self, indices: Any) -> np.ndarray:
        """External ids of ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DataError(f"index out of range 0..{len(self) - 1}: got {int(idx.min())}..{int(idx.max())}")
        return self._ids[idx]

    # -- persistence -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable description (kind + ids)."""
        return {"kind": self.kind, "ids": self._ids.tolist()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Vocab":
        """Inverse of :meth:`to_json`."""
        ids = obj["ids"]
        return cls(np.asarray(ids, dtype=np.int64) if obj["kind"] == "int" else np.asarray(ids, dtype=str))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays to store in an ``.npz`` under ``prefix`` (no pickle: str ids as unicode)."""
        return {f"{prefix}_ids": self._ids}

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> "Vocab":
        """Inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays[f"{prefix}_ids"]))

    def dumps(self) -> str:
        """JSON string form."""
        return json.dumps(self.to_json())
