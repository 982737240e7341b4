"""ItemAttributes: item columns that rules read, as flat numpy arrays indexed by item index.

Built once (at pipeline build time) from an item :class:`FeatureTable` and a column mapping,
so a rule's hot path is a gather such as ``attributes.price[candidates.items]`` - no dicts,
no per-item Python. Reading the columns of a feature table (:class:`AttributeColumns`) lives in
``rules/attribute_columns.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.core.validation import validate_config
from shortlist.data.features import FeatureTable
from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError, DataError
from shortlist.rules.attribute_columns import AttributeColumns, attribute_arrays

__all__ = ["ATTRIBUTES", "AttributeColumns", "ItemAttributes"]

#: Every attribute a rule may need, with what it holds.
ATTRIBUTES = {
    "category": "categorical code per item (-1 = none), names in category_names",
    "creator": "categorical code per item (-1 = none), names in creator_names",
    "price": "float per item (NaN = unknown)",
    "lat": "latitude in degrees (NaN = unknown)",
    "lon": "longitude in degrees (NaN = unknown)",
    "publish_time": "epoch seconds (NaN = unknown)",
    "available_from": "epoch seconds (NaN = no lower bound)",
    "available_until": "epoch seconds (NaN = no upper bound)",
    "duplicate_group": "int code per item; equal codes = one item under several ids (-1 = none)",
    "content_hash": "int code per item; equal codes = the same content (-1 = none)",
    "sensitive": "item x flag 0/1 CSR, flag names in sensitive_names",
    "text": "str per item, or an item x token CSR (bags such as tags)",
    "vectors": "float32 item x d (dense or CSR), rows L2-normalized (embeddings or features)",
    "seen": "user x item CSR of training interactions",
    "home": "float64 user x 2 (lat, lon) home locations (NaN = unknown)",
}


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class ItemAttributes:
    """Item attributes for rules, as arrays aligned with item indices (all optional).

    Construct from arrays (``ItemAttributes(n_items, creator=..., price=...)``) or from a
    feature table with :meth:`from_features`. ``seen`` (training interactions, user x item
    CSR) and ``home`` (user home locations) are the two user-side lookups some rules need.
    """

    def __init__(
        self,
        n_items: int,
        *,
        vocab: Vocab | None = None,
        category: Any = None,
        category_names: tuple[str, ...] | None = None,
        creator: Any = None,
        creator_names: tuple[str, ...] | None = None,
        price: Any = None,
        lat: Any = None,
        lon: Any = None,
        publish_time: Any = None,
        available_from: Any = None,
        available_until: Any = None,
        duplicate_group: Any = None,
        content_hash: Any = None,
        sensitive: Any = None,
        sensitive_names: tuple[str, ...] | None = None,
        text: Any = None,
        vectors: Any = None,
        seen: Any = None,
        home: Any = None,
    ) -> None:
        self.n_items = int(n_items)
        if vocab is not None and len(vocab) != self.n_items:
            raise DataError(
                f"vocab has {len(vocab)} ids but n_items={self.n_items}; give the item vocab"
            )
        self.vocab = vocab
        self.category = self._codes_arg("category", category)
        self.category_names = (
            tuple(category_names)
            if category_names is not None
            else self._default_names(self.category)
        )
        self.creator = self._codes_arg("creator", creator)
        self.creator_names = (
            tuple(creator_names) if creator_names is not None else self._default_names(self.creator)
        )
        self.price = self._float_arg("price", price)
        self.lat = self._float_arg("lat", lat)
        self.lon = self._float_arg("lon", lon)
        self.publish_time = self._float_arg("publish_time", publish_time)
        self.available_from = self._float_arg("available_from", available_from)
        self.available_until = self._float_arg("available_until", available_until)
        self.duplicate_group = self._codes_arg("duplicate_group", duplicate_group)
        self.content_hash = self._codes_arg("content_hash", content_hash)
        self.sensitive, self.sensitive_names = self._sensitive_arg(sensitive, sensitive_names)
        self.text = self._text_arg(text)
        self.vectors = self._vectors_arg(vectors)
        self.seen = self._seen_arg(seen)
        self.home = None if home is None else np.asarray(home, np.float64).reshape(-1, 2)

    # -- argument checks -------------------------------------------------------------
    def _check_len(self, name: str, n: int) -> None:
        if n != self.n_items:
            raise DataError(
                f"attribute {name!r} has {n} rows, expected n_items={self.n_items} (one per item)"
            )

    def _codes_arg(self, name: str, values: Any) -> np.ndarray | None:
        if values is None:
            return None
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            raise DataError(
                f"attribute {name!r} must be integer codes (-1 = none), got dtype {arr.dtype}; "
                "map labels to codes first (ItemAttributes.from_features does it)"
            )
        self._check_len(name, arr.shape[0])
        return arr.astype(np.int64)

    def _default_names(self, codes: np.ndarray | None) -> tuple[str, ...]:
        if codes is None or codes.size == 0:
            return ()
        return tuple(str(c) for c in range(int(codes.max()) + 1))

    def _float_arg(self, name: str, values: Any) -> np.ndarray | None:
        if values is None:
            return None
        arr = np.asarray(values, np.float64)
        self._check_len(name, arr.shape[0])
        return arr

    def _sensitive_arg(
        self, values: Any, names: Any
    ) -> tuple[sp.csr_matrix | None, tuple[str, ...]]:
        if values is None:
            return None, ()
        m = sp.csr_matrix(
            values if sp.issparse(values) else np.atleast_2d(np.asarray(values).T).T,
            dtype=np.float32,
        )
        self._check_len("sensitive", m.shape[0])
        names = tuple(names) if names is not None else tuple(f"flag{j}" for j in range(m.shape[1]))
        if len(names) != m.shape[1]:
            raise DataError(
                f"sensitive has {m.shape[1]} flag columns but {len(names)} sensitive_names"
            )
        m.eliminate_zeros()
        return m, names

    def _text_arg(self, values: Any) -> np.ndarray | sp.csr_matrix | None:
        if values is None:
            return None
        out = (
            sp.csr_matrix(values, dtype=np.float32)
            if sp.issparse(values)
            else np.asarray(values, dtype=str)
        )
        self._check_len("text", out.shape[0])
        return out

    def _vectors_arg(self, values: Any) -> np.ndarray | sp.csr_matrix | None:
        if values is None:
            return None
        if sp.issparse(values):  # stays sparse: one-hot creators x 1M items would not fit dense
            m = sp.csr_matrix(values, dtype=np.float32)
            self._check_len("vectors", m.shape[0])
            norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
            inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ m)
        arr = np.asarray(values)
        if arr.ndim != 2:
            raise DataError(
                f"attribute 'vectors' must be 2-D (items x dims), got shape {arr.shape}"
            )
        self._check_len("vectors", arr.shape[0])
        return _normalize_rows(arr)

    def _seen_arg(self, values: Any) -> sp.csr_matrix | None:
        if values is None:
            return None
        m = getattr(values, "matrix", values)  # an Interactions object or a matrix
        m = sp.csr_matrix(m)
        if m.shape[1] != self.n_items:
            raise DataError(f"seen has {m.shape[1]} item columns, expected n_items={self.n_items}")
        m.sort_indices()
        return m

    # -- access ----------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """Whether attribute ``name`` is set."""
        return getattr(self, name, None) is not None

    def require(self, name: str, rule: str) -> None:
        """Raise a :class:`ConfigError` naming ``name`` and the fix when it is not set."""
        if name not in ATTRIBUTES:
            raise ConfigError(f"unknown item attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
        if self.has(name):
            return
        if name == "seen":
            how = "pass seen=<training Interactions or user x item CSR> to ItemAttributes"
        elif name == "home":
            how = (
                "map home_lat/home_lon to user columns: ItemAttributes.from_features(items, "
                "{'home_lat': ..., 'home_lon': ...}, users=<user FeatureTable>)"
            )
        else:
            how = (
                "map it to a feature column: "
                f"ItemAttributes.from_features(table, {{'{name}': '<column>'}}) "
                f"or pass {name}=<array> to ItemAttributes"
            )
        raise ConfigError(
            f"rule {rule!r} needs the item attribute {name!r} ({ATTRIBUTES[name]}), "
            f"which is not set; fix: {how}"
        )

    def index_of(self, ids: Any, *, what: str) -> np.ndarray:
        """Item indices of external ``ids`` (ids are indices when there is no vocab)."""
        arr = np.asarray(list(ids))
        if self.vocab is not None:
            return (
                self.vocab.index(arr, missing="ignore", what="item").astype(np.int64)
                if arr.size
                else np.zeros(0, np.int64)
            )
        if arr.size and arr.dtype.kind not in "iu":
            raise ConfigError(
                f"{what}={list(ids)!r}: these attributes have no item vocab, so items must be "
                "integer indices; fix: give indices or build ItemAttributes with vocab="
            )
        idx = arr.astype(np.int64)
        ok = idx >= 0
        if self.n_items:  # attributes without items (rules built bare) accept any index
            ok &= idx < self.n_items
        return np.where(ok, idx, -1)

    def seen_items(self, user_index: int) -> np.ndarray:
        """Sorted item indices the user interacted with in training (empty when unknown)."""
        m = self.seen
        if m is None or user_index < 0 or user_index >= m.shape[0]:
            return np.zeros(0, np.int64)
        return m.indices[m.indptr[user_index] : m.indptr[user_index + 1]]

    def __repr__(self) -> str:
        have = [n for n in ATTRIBUTES if self.has(n)]
        return f"ItemAttributes({self.n_items} items; {', '.join(have) or 'no attributes'})"

    # -- construction from feature tables -------------------------------------------
    @classmethod
    def from_features(
        cls,
        table: FeatureTable,
        columns: Mapping[str, Any] | AttributeColumns,
        *,
        users: FeatureTable | None = None,
        vectors: Any = None,
        seen: Any = None,
    ) -> ItemAttributes:
        """Read attributes from ``table`` via ``columns`` ({attribute: column name}).

        ``users`` is the user feature table for ``home_lat``/``home_lon``; ``vectors`` an
        items x d array (e.g. ``model.item_factors_``) that overrides ``columns["vectors"]``;
        ``seen`` the training interactions (for ``ExcludeSeen``).
        """
        cols = (
            columns
            if isinstance(columns, AttributeColumns)
            else validate_config("item attribute columns", AttributeColumns, columns)
        )
        return cls(len(table.vocab), vocab=table.vocab, seen=seen,
                   **attribute_arrays(table, cols, users=users, vectors=vectors))
