"""Feature encoding shared by every neural model: one index space per side, padded slots.

An entity (user or item) becomes a sparse row over *indices*, grouped in *fields*:

- ``id``: the entity's own id (index 1 of the field = "unknown id", used for cold entities);
  with ``id_buckets`` the ids are hashed into that many buckets (unbounded id spaces);
- categorical columns: one index per category plus a "missing" index; columns with more
  than ``max_categories`` categories are hashed into ``hash_buckets`` buckets, so
  categories never seen in training still land somewhere;
- multi-valued columns (genres, tags): one index per token, values ``1/len`` (mean
  pooling) or ``1`` (sum pooling);
- numeric columns: z-scored with the training mean and standard deviation (a "linear
  embedding": the field vector is ``z * v``), NaN goes to a separate "missing" index.

Text columns are skipped (turn them into tokens first). The layout is fitted on training
data and saved with the model as JSON (categories, means) - :meth:`FieldEncoder.to_json`.
Models consume :func:`padded` rows: ``(index, value, field)`` arrays of shape (n, L), the
libFM input format, from which an FM term and per-field pooled vectors are both cheap.
Watch-history bags are built by :func:`history_bags` from an interaction matrix.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.features import FeatureTable
from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError

__all__ = ["FieldEncoder", "history_bags", "padded", "stable_hash"]

_POOLING = ("mean", "sum")


def stable_hash(labels: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket of each label (crc32 of its text): the same in every process, unlike ``hash``."""
    return np.fromiter((zlib.crc32(str(x).encode()) % buckets for x in labels), np.int64,
                       count=len(labels))


class FieldEncoder:
    """Encode one side (users or items): an id field plus the columns of a FeatureTable."""

    def __init__(self, *, use_id: bool = True, id_buckets: int | None = None,
                 max_categories: int = 1000, hash_buckets: int = 256,
                 pooling: str = "mean", columns: list[str] | None = None) -> None:
        if pooling not in _POOLING:
            raise ConfigError(f"pooling={pooling!r} is not supported; use 'mean' or 'sum'")
        for name, v in (("max_categories", max_categories), ("hash_buckets", hash_buckets)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}; e.g. {name}=256")
        if id_buckets is not None and (not isinstance(id_buckets, (int, np.integer)) or id_buckets < 2):
            raise ConfigError(f"id_buckets must be None or an integer >= 2, got {id_buckets!r}")
        self.use_id = use_id
        self.id_buckets = id_buckets
        self.max_categories = max_categories
        self.hash_buckets = hash_buckets
        self.pooling = pooling
        self.columns = columns
        self.fields_: list[dict[str, Any]] = []

    # -- fitting -----------------------------------------------------------------------
    def fit(self, vocab: Vocab, table: FeatureTable | None = None) -> FieldEncoder:
        """Lay out the fields for ``vocab`` (the ids) and ``table`` (its features, optional)."""
        fields: list[dict[str, Any]] = []
        if self.use_id:
            n = self.id_buckets or len(vocab)
            # slot 0 = unknown id (cold entities), then one slot per id or bucket
            fields.append({"name": "id", "kind": "id", "size": n + 1, "hashed": self.id_buckets is not None})
        if table is not None:
            wanted = self.columns if self.columns is not None else table.names
            missing = [c for c in wanted if c not in table]
            if missing:
                raise ConfigError(f"feature column(s) {missing} not in the table; it has {table.names}")
            for name in wanted:
                kind = table.kinds[name]
                if kind == "categorical":
                    _, cats = table.categorical(name)
                    hashed = len(cats) > self.max_categories
                    size = (self.hash_buckets if hashed else len(cats)) + 1  # + missing slot
                    fields.append({"name": name, "kind": "categorical", "size": size, "hashed": hashed,
                                   "categories": [] if hashed else list(cats)})
                elif kind == "multi":
                    _, toks = table.multi_hot(name)
                    hashed = len(toks) > self.max_categories
                    size = self.hash_buckets if hashed else max(len(toks), 1)
                    fields.append({"name": name, "kind": "multi", "size": size, "hashed": hashed,
                                   "categories": [] if hashed else list(toks)})
                elif kind == "numeric":
                    v = table.numeric(name).astype(np.float64)
                    ok = np.isfinite(v)
                    mean = float(v[ok].mean()) if ok.any() else 0.0
                    std = float(v[ok].std()) if ok.any() else 1.0
                    fields.append({"name": name, "kind": "numeric", "size": 2, "mean": mean,
                                   "std": std if std > 0 else 1.0})
        if not fields:
            raise ConfigError("nothing to encode: use_id=False and no feature columns; "
                              "set use_id=True or pass a FeatureTable")
        offset = 0
        for f in fields:
            f["offset"] = offset
            offset += f["size"]
        self.fields_ = fields
        return self

    @property
    def n_index(self) -> int:
        """Total number of indices (rows of the side's embedding table)."""
        return sum(f["size"] for f in self.fields_)

    @property
    def n_fields(self) -> int:
        return len(self.fields_)

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields_]

    # -- transforming ------------------------------------------------------------------
    def transform(self, ids: np.ndarray, table: FeatureTable | None = None, *,
                  id_index: np.ndarray | None = None, known: np.ndarray | None = None) -> sp.csr_matrix:
        """Rows (len(ids), n_index) for entities ``ids`` (external ids), features from ``table``.

        ``id_index`` gives the fitted index of each id (default: position in ``ids``);
        entities with ``known`` False get the unknown-id slot (cold start). Ids absent from
        ``table`` get missing features.
        """
        if not self.fields_:
            raise ConfigError("the encoder is not fitted; call fit(vocab, table) first")
        ids = np.asarray(ids)
        n = ids.shape[0]
        rows = None
        if table is not None:
            rows = table.vocab.index(ids, missing="ignore")
        parts_r, parts_c, parts_v = [], [], []
        for f in self.fields_:
            r, c, v = self._field(f, ids, n, table, rows, id_index, known)
            parts_r.append(r)
            parts_c.append(c + f["offset"])
            parts_v.append(v)
        m = sp.csr_matrix((np.concatenate(parts_v).astype(np.float32),
                           (np.concatenate(parts_r), np.concatenate(parts_c))), shape=(n, self.n_index))
        m.sum_duplicates()
        m.sort_indices()
        return m

    def _field(self, f: dict[str, Any], ids: np.ndarray, n: int, table: FeatureTable | None,
               rows: np.ndarray | None, id_index: np.ndarray | None, known: np.ndarray | None):
        all_rows = np.arange(n)
        ones = np.ones(n, np.float32)
        if f["kind"] == "id":
            if f["hashed"]:
                col = stable_hash(ids, f["size"] - 1) + 1
            else:
                idx = np.arange(n) if id_index is None else np.asarray(id_index, np.int64)
                col = np.where((idx >= 0) & (idx < f["size"] - 1), idx + 1, 0)
            if known is not None:
                col = np.where(np.asarray(known, bool), col, 0)
            return all_rows, col, ones
        has = rows is not None and f["name"] in table
        if f["kind"] == "numeric":
            vals = np.full(n, np.nan)
            if has:
                src = table.numeric(f["name"])
                vals[rows >= 0] = src[rows[rows >= 0]]
            z = (vals - f["mean"]) / f["std"]
            miss = ~np.isfinite(z)
            # missing -> slot 1 with value 1; present -> slot 0 with the z-score
            return all_rows, miss.astype(np.int64), np.where(miss, 1.0, z).astype(np.float32)
        if f["kind"] == "categorical":
            col = np.zeros(n, np.int64)  # 0 = missing
            if has:
                codes, cats = table.categorical(f["name"])
                mapping = self._map_labels(f, cats)  # table code -> fitted slot (>= 1) or 0
                sel = rows >= 0
                c = codes[rows[sel]]
                col[sel] = np.where(c >= 0, mapping[np.maximum(c, 0)], 0)
            return all_rows, col, ones
        # multi
        if not has:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        mat, toks = table.multi_hot(f["name"])
        mapping = self._map_labels(f, toks, offset=0)
        sel = np.flatnonzero(rows >= 0)
        sub = sp.csr_matrix(mat[rows[sel]])
        r = np.repeat(sel, np.diff(sub.indptr))
        c = mapping[sub.indices] if sub.nnz else np.zeros(0, np.int64)
        ok = c >= 0
        r, c = r[ok], c[ok]
        v = np.ones(r.shape[0], np.float32)
        if self.pooling == "mean" and r.size:
            cnt = np.bincount(r, minlength=n).astype(np.float32)
            v = 1.0 / cnt[r]
        return r, c, v

    @staticmethod
    def _map_labels(f: dict[str, Any], labels: tuple[str, ...], offset: int = 1) -> np.ndarray:
        """Fitted slot of each label of a table column (hashed, or by name; -1/0 = unknown)."""
        labels_arr = np.asarray(labels, dtype=str)
        if f["hashed"]:
            return stable_hash(labels_arr, f["size"] - offset) + offset
        pos = {c: i for i, c in enumerate(f["categories"])}
        unknown = 0 if offset == 1 else -1
        return np.fromiter((pos[x] + offset if x in pos else unknown for x in labels_arr.tolist()),
                           np.int64, count=len(labels_arr))

    def index_fields(self) -> np.ndarray:
        """Field number of every index (length ``n_index``)."""
        return np.repeat(np.arange(self.n_fields), [f["size"] for f in self.fields_])

    # -- persistence -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Everything needed to encode new entities the same way."""
        return {"use_id": self.use_id, "id_buckets": self.id_buckets,
                "max_categories": self.max_categories, "hash_buckets": self.hash_buckets,
                "pooling": self.pooling, "columns": self.columns, "fields": self.fields_}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FieldEncoder:
        """Inverse of :meth:`to_json`."""
        enc = cls(use_id=obj["use_id"], id_buckets=obj["id_buckets"], max_categories=obj["max_categories"],
                  hash_buckets=obj["hash_buckets"], pooling=obj["pooling"], columns=obj["columns"])
        enc.fields_ = obj["fields"]
        return enc


def padded(rows: sp.csr_matrix, field_of_index: np.ndarray, pad_index: int) -> tuple[np.ndarray, ...]:
    """CSR rows -> (index, value, field) arrays (n, L); padding slots have value 0.

    ``pad_index`` must be a valid embedding row (its value 0 makes it contribute nothing).
    """
    rows = sp.csr_matrix(rows)
    counts = np.diff(rows.indptr)
    width = max(int(counts.max(initial=0)), 1)
    n = rows.shape[0]
    idx = np.full((n, width), pad_index, np.int64)
    val = np.zeros((n, width), np.float32)
    fld = np.zeros((n, width), np.int64)
    r = np.repeat(np.arange(n), counts)
    pos = np.arange(rows.nnz) - np.repeat(rows.indptr[:-1], counts)
    idx[r, pos] = rows.indices
    val[r, pos] = rows.data
    fld[r, pos] = field_of_index[rows.indices]
    return idx, val, fld


def history_bags(matrix: sp.csr_matrix, users: np.ndarray, *, max_len: int | None = None,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Padded item indices (n, L) of each user's history (+1; 0 = padding) and their counts.

    Histories longer than ``max_len`` are subsampled (randomly with ``rng``, else the last
    ``max_len`` columns), which bounds memory for heavy users.
    """
    sub = sp.csr_matrix(matrix[np.asarray(users, np.int64)])
    counts = np.diff(sub.indptr)
    width = max(int(counts.max(initial=0)), 1)
    if max_len is not None:
        if max_len < 1:
            raise DataError(f"max_len must be >= 1, got {max_len}")
        width = min(width, max_len)
    out = np.zeros((sub.shape[0], width), np.int64)
    lens = np.minimum(counts, width)
    for r in range(sub.shape[0]):
        items = sub.indices[sub.indptr[r]:sub.indptr[r + 1]]
        if items.size > width:
            items = rng.choice(items, width, replace=False) if rng is not None else items[-width:]
        out[r, : items.size] = items + 1
    return out, lens
