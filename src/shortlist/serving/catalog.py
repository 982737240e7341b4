"""Which logged item ids the served catalog holds, as the catalog's own ids (one type per response)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shortlist.online.updater import usable_ids

__all__ = ["catalog_ids"]


def catalog_ids(vocab: Any, ids: list[str]) -> list[Any]:
    """For each logged id string: the catalog's id (``int`` or ``str``, as the catalog holds it), or None.

    Events are logged for any item id (a new item may be on its way into the catalog); answers
    show only ids the served model version holds, with the catalog's type: "42" becomes 42
    in an integer catalog, and "abc" (not an id of an integer catalog) is left out.
    """
    out: list[Any] = [None] * len(ids)
    usable = set(usable_ids(vocab, ids))
    pos = [n for n, i in enumerate(ids) if i in usable]
    if not pos:
        return out
    idx = vocab.index(np.asarray([ids[n] for n in pos]), missing="ignore")
    native = vocab.ids
    for n, j in zip(pos, idx):
        if j >= 0:
            out[n] = native[j].item()
    return out
