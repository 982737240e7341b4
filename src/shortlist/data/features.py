"""Feature tables: categorical, multi-valued, numeric and text features of users or items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.vocab import Vocab
from shortlist.errors import DataError

__all__ = ["FeatureTable", "FEATURE_KINDS"]

FEATURE_KINDS = ("categorical", "multi", "numeric", "text")


@dataclass
class _Column:
    kind: str
    codes: np.ndarray | None = None  # categorical: int32 per entity, -1 = missing
    categories: tuple[str, ...] = ()
    matrix: sp.csr_matrix | None = None  # multi: entity x token (0/1 or weights)
    values: np.ndarray | None = None  # numeric: float32, NaN = missing; text: str array
    extra: dict[str, Any] = field(default_factory=dict)


class FeatureTable:
    """Features of the entities of one :class:`Vocab` (rows aligned with its indices).

    Entities without a value get a missing marker (-1 code, empty bag, NaN, empty text),
    so a table built from a partial file still lines up with the interactions.
    """

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self._cols: dict[str, _Column] = {}

    def __repr__(self) -> str:
        cols = ", ".join(f"{n}:{c.kind}" for n, c in self._cols.items())
        return f"FeatureTable({len(self.vocab)} rows; {cols})"

    def __contains__(self, name: str) -> bool:
        return name in self._cols

    @property
    def names(self) -> list[str]:
        return list(self._cols)

    @property
    def kinds(self) -> dict[str, str]:
        return {n: c.kind for n, c in self._cols.items()}

    def _check_len(self, name: str, n: int) -> None:
        if n != len(self.vocab):
            raise DataError(f"feature {name!r} has {n} rows, expected {len(self.vocab)} (one per entity)")

    def _get(self, name: str, kind: str) -> _Column:
        if name not in self._cols:
            raise DataError(f"no feature {name!r}; available: {', '.join(self._cols) or 'none'}")
        col = self._cols[name]
        if col.kind != kind:
            raise DataError(f"feature {name!r} is {col.kind}, not {kind}")
        return col

    # -- adding columns ----------------------------------------------------------------
    def add_categorical(self, name: str, values: Sequence[Any]) -> "FeatureTable":
        """One label per entity (None/NaN/"" = missing)."""
        arr = np.asarray(values, dtype=object)
        self._check_len(name, arr.shape[0])
        missing = np.array([v is None or v == "" or (isinstance(v, float) and np.isnan(v)) for v in arr])
        labels = arr[~missing].astype(str)
        cats, inv = np.unique(labels, return_inverse=True)
        codes = np.full(arr.shape[0], -1, np.int32)
        codes[~missing] = inv
        self._cols[name] = _Column("categorical", codes=codes, categories=tuple(cats.tolist()))
        return self

    def add_categorical_codes(self, name: str, codes: np.ndarray, categories: Sequence[str]) -> "FeatureTable":
        """Categorical column from integer codes (fast path for generated data)."""
        codes = np.asarray(codes, np.int32)
        self._check_len(name, codes.shape[0])
        if codes.size and codes.max() >= len(categories):
            raise DataError(f"feature {name!r}: code {int(codes.max())} >= {len(categories)} categories")
        self._cols[name] = _Column("categorical", codes=codes, categories=tuple(categories))
        return self

    def add_multi(self, name: str, bags: Iterable[Iterable[Any]] | sp.spmatrix,
                  tokens: Sequence[str] | None = None) -> "FeatureTable":
        """A bag of labels per entity (genres, tags), or a ready entity x token matrix."""
        if sp.issparse(bags):
            m = sp.csr_matrix(bags, dtype=np.float32)
            if tokens is None or len(tokens) != m.shape[1]:
                raise DataError(f"feature {name!r}: give one token name per matrix column")
            self._check_len(name, m.shape[0])
            self._cols[name] = _Column("multi", matrix=m, categories=tuple(map(str, tokens)))
            return self
        bags = [list(b) if b is not None else [] for b in bags]
        self._check_len(name, len(bags))
        flat = [str(t) for b in bags for t in b]
        vocab = sorted(set(flat)) if tokens is None else [str(t) for t in tokens]
        tv = Vocab(np.asarray(vocab, dtype=str)) if vocab else Vocab(np.zeros(0, dtype=str))
        rows = np.repeat(np.arange(len(bags)), [len(b) for b in bags])
        cols = tv.index(np.asarray(flat, dtype=str), missing="ignore") if flat else np.zeros(0, np.int64)
        keep = cols >= 0
        m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])),
                          shape=(len(bags), len(vocab)))
        m.sum_duplicates()
        self._cols[name] = _Column("multi", matrix=m, categories=tuple(vocab))
        return self

    def add_numeric(self, name: str, values: Sequence[float]) -> "FeatureTable":
        """A number per entity (NaN = missing)."""
        arr = np.asarray(values, dtype=np.float32)
        self._check_len(name, arr.shape[0])
        if np.isinf(arr).any():
            raise DataError(f"feature {name!r} has infinite values; clip or drop them")
        self._cols[name] = _Column("numeric", values=arr)
        return self

    def add_text(self, name: str, values: Sequence[str | None]) -> "FeatureTable":
        """A free text per entity (titles, descriptions)."""
        arr = np.asarray(["" if v is None else str(v) for v in values], dtype=str)
        self._check_len(name, arr.shape[0])
        self._cols[name] = _Column("text", values=arr)
        return self

    # -- reading columns ---------------------------------------------------------------
    def categorical(self, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """(codes, categories); code -1 = missing."""
        c = self._get(name, "categorical")
        return c.codes, c.categories

    def multi_hot(self, name: str) -> tuple[sp.csr_matrix, tuple[str, ...]]:
        """(entity x token CSR, token names)."""
        c = self._get(name, "multi")
        return c.matrix, c.categories

    def numeric(self, name: str) -> np.ndarray:
        return self._get(name, "numeric").values

    def text(self, name: str) -> np.ndarray:
        return self._get(name, "text").values

    def one_hot(self, name: str) -> sp.csr_matrix:
        """Categorical column as an entity x category 0/1 CSR (missing = empty row)."""
        codes, cats = self.categorical(name)
        ok = codes >= 0
        return sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (np.flatnonzero(ok), codes[ok])),
                             shape=(codes.shape[0], len(cats)))

    def matrix(self, names: Sequence[str] | None = None) -> sp.csr_matrix:
        """Sparse design matrix: one-hot categoricals, multi-hot bags, standardized numerics.

        Text columns are skipped (turn them into bags first, e.g. TF-IDF tokens).
        """
        parts = []
        for n in names or self.names:
            c = self._cols[n]
            if c.kind == "categorical":
                parts.append(self.one_hot(n))
            elif c.kind == "multi":
                parts.append(c.matrix)
            elif c.kind == "numeric":
                v = c.values.astype(np.float64)
                mu, sd = np.nanmean(v) if np.isfinite(v).any() else 0.0, np.nanstd(v) if np.isfinite(v).any() else 1.0
                z = np.nan_to_num((v - mu) / (sd or 1.0))
                parts.append(sp.csr_matrix(z.astype(np.float32)[:, None]))
        if not parts:
            return sp.csr_matrix((len(self.vocab), 0), dtype=np.float32)
        return sp.hstack(parts, format="csr", dtype=np.float32)

    # -- persistence -------------------------------------------------------------------
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays for an ``.npz`` (no pickle)."""
        out: dict[str, np.ndarray] = dict(self.vocab.to_arrays(f"{prefix}_vocab"))
        out[f"{prefix}__names"] = np.asarray(self.names, dtype=str)
        out[f"{prefix}__kinds"] = np.asarray([c.kind for c in self._cols.values()], dtype=str)
        for i, (n, c) in enumerate(self._cols.items()):
            p = f"{prefix}__{i}"
            if c.kind in ("categorical", "multi"):
                out[f"{p}_cats"] = np.asarray(c.categories, dtype=str)
            if c.kind == "categorical":
                out[f"{p}_codes"] = c.codes
            elif c.kind == "multi":
                out[f"{p}_data"], out[f"{p}_indices"], out[f"{p}_indptr"] = c.matrix.data, c.matrix.indices, c.matrix.indptr
            else:
                out[f"{p}_values"] = c.values
        return out

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> "FeatureTable":
        """Inverse of :meth:`to_arrays`."""
        table = cls(Vocab.from_arrays(arrays, f"{prefix}_vocab"))
        n = len(table.vocab)
        for i, (name, kind) in enumerate(zip(arrays[f"{prefix}__names"].tolist(), arrays[f"{prefix}__kinds"].tolist())):
            p = f"{prefix}__{i}"
            if kind == "categorical":
                table.add_categorical_codes(name, arrays[f"{p}_codes"], arrays[f"{p}_cats"].tolist())
            elif kind == "multi":
                m = sp.csr_matrix((arrays[f"{p}_data"], arrays[f"{p}_indices"], arrays[f"{p}_indptr"]),
                                  shape=(n, len(arrays[f"{p}_cats"])))
                table.add_multi(name, m, arrays[f"{p}_cats"].tolist())
            elif kind == "numeric":
                table.add_numeric(name, arrays[f"{p}_values"])
            else:
                table.add_text(name, arrays[f"{p}_values"].tolist())
        return table

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        vocab: Vocab,
        *,
        id_column: str,
        categorical: Sequence[str] = (),
        multi: dict[str, str] | None = None,
        numeric: Sequence[str] = (),
        text: Sequence[str] = (),
    ) -> "FeatureTable":
        """Build from a DataFrame with one row per entity; ``multi`` maps column -> separator.

        Rows whose id is not in ``vocab`` are ignored; entities without a row get missing values.
        """
        from shortlist.data.frames import to_polars

        df = to_polars(frame)
        wanted = [id_column, *categorical, *(multi or {}), *numeric, *text]
        absent = [c for c in wanted if c not in df.columns]
        if absent:
            raise DataError(f"feature column(s) {absent} not found; the data has {df.columns}")
        pos = vocab.index(df[id_column].to_numpy(), missing="ignore")
        keep = pos >= 0
        pos = pos[keep]
        df = df.filter(keep)
        n = len(vocab)
        table = cls(vocab)

        def spread(values: list[Any], fill: Any) -> list[Any]:
            out = [fill] * n
            for p, v in zip(pos.tolist(), values):
                out[p] = v
            return out

        for c in categorical:
            table.add_categorical(c, spread(df[c].cast(str).to_list(), None))
        for c, sep in (multi or {}).items():
            bags = [[t for t in (s or "").split(sep) if t] for s in df[c].cast(str).to_list()]
            table.add_multi(c, spread(bags, []))
        for c in numeric:
            table.add_numeric(c, spread(df[c].cast(float).to_list(), np.nan))
        for c in text:
            table.add_text(c, spread(df[c].cast(str).to_list(), ""))
        return table
