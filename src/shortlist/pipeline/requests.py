"""Request building for a fitted pipeline: external ids -> item indices, rule context, exclusions.

:meth:`Pipeline.make_request <shortlist.pipeline.pipeline.Pipeline.make_request>` translates
what a caller sends (item ids in the history, the exclusions and the rules' context keys)
with these helpers; :func:`exclusions` computes a request's exclusion sets once for all sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.data.vocab import Vocab
from shortlist.errors import ConfigError
from shortlist.pipeline.components import Exclusions
from shortlist.retrieval.types import Request

__all__ = ["context_indices", "exclusions", "item_indices", "known_items"]


def exclusions(train: sp.csr_matrix, req: Request) -> Exclusions:
    """The request's exclusion sets (seen + history + asked, and asked alone) over ``train``'s items."""
    seen = np.zeros(0, np.int64)
    if req.known_user and req.user_index < train.shape[0]:
        seen = train.indices[train.indptr[req.user_index]:train.indptr[req.user_index + 1]].astype(np.int64)
    asked = np.unique(np.asarray(req.exclude, np.int64))
    return Exclusions(np.unique(np.concatenate([seen, np.asarray(req.history, np.int64), asked])), asked)


def known_items(items: Vocab, ids: Any) -> np.ndarray:
    """Indices of the external item ids that are in the catalog (order kept)."""
    if not len(ids):
        return np.zeros(0, np.int64)
    idx = items.index(np.asarray(list(ids)), missing="ignore")
    return idx[idx >= 0].astype(np.int64)


def context_indices(rules: Sequence[Any], items: Vocab, context: dict[str, Any]) -> dict[str, Any]:
    """``context`` with the item ids under the rules' item keys turned into item indices.

    Ids outside the catalog are dropped: they cannot be among the candidates anyway.
    """
    for rule in rules:
        for key, shape in rule.context_item_keys().items():
            raw = context.get(key)
            if raw is None:
                continue
            if shape == "items":
                ids = list(raw) if isinstance(raw, (list, tuple, np.ndarray)) else [raw]
                idx = item_indices(items, ids)
                context[key] = idx[idx >= 0]
            else:
                context[key] = _pins_indices(items, key, raw)
    return context


def _pins_indices(items: Vocab, key: str, raw: Any) -> list[tuple[int, int]]:
    entries = list(raw.items()) if isinstance(raw, dict) else list(raw)
    try:
        pairs = [(e["item"], int(e["position"])) if isinstance(e, dict) else (e[0], int(e[1])) for e in entries]
    except (TypeError, ValueError, KeyError, IndexError):
        raise ConfigError(f"request context {key}={raw!r}: give a list of {{'item': id, 'position': int}} "
                          "or (id, position) pairs") from None
    idx = item_indices(items, [p[0] for p in pairs])
    return [(int(i), pos) for i, (_, pos) in zip(idx, pairs) if i >= 0]


def item_indices(items: Vocab, ids: list[Any]) -> np.ndarray:
    """Indices of external item ids as given in JSON (ints as text too); -1 where unknown."""
    if items.kind == "int":
        ids = [int(i) if isinstance(i, (int, np.integer)) or (isinstance(i, str) and i.lstrip("-").isdigit()
                                                               and len(i) <= 18) else None for i in ids]
    else:
        ids = [str(i) for i in ids]
    known = [i for i in ids if i is not None]
    found = items.index(np.asarray(known), missing="ignore") if known else np.zeros(0, np.int64)
    out = np.full(len(ids), -1, np.int64)
    out[[j for j, i in enumerate(ids) if i is not None]] = found
    return out
