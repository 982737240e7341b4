"""The rule contract, rule configs, and the item attributes that rules read.

``rules.base`` imports ``rules.attributes``, never the other way round; both validate their
configs with :func:`shortlist.core.validation.validate_config` (re-exported here).

A rule is called like every component, ``rule(request, candidates) -> candidates`` (``k`` is
``request.k``; what it dropped is appended to ``candidates.drops``). Subclasses implement
``apply(request, candidates, k) -> (candidates, drops)``.
Filters return fewer candidates plus one :class:`~shortlist.retrieval.types.Drop` per reason;
re-orderers change order or scores and drop nothing. The order of ``candidates.items`` is the
ranking: rules read it best-first and hand it on best-first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shortlist.core.validation import validate_config
from shortlist.errors import DataError
from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.attributes import ItemAttributes

__all__ = [
    "ItemAttributes",
    "Rule",
    "RuleConfig",
    "apply_rules",
    "request_now",
    "validate_config",
]


class RuleConfig(BaseModel):
    """Base of every rule's config: unknown keys are errors, ``name`` labels drops and traces."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(
        None, description="a short label for drop records and traces (default: the kind)"
    )


def request_now(request: Request) -> float:
    """``request.context["now"]`` (epoch seconds), or the wall clock when the request has none."""
    now = request.now
    if now is None:
        return time.time()
    try:
        return float(now)
    except (TypeError, ValueError):
        raise DataError(
            f"request context now={now!r} is not a number; give epoch seconds"
        ) from None


def context_float(request: Request, key: str, default: float | None) -> float | None:
    """A number from ``request.context[key]`` (``default`` when absent or None)."""
    raw = request.context.get(key)
    if raw is None:
        return default
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise DataError(
            f"request context {key}={raw!r} is not a number; give a number or leave it out"
        ) from None


def context_items(request: Request, key: str) -> np.ndarray:
    """Item indices from ``request.context[key]`` (empty when absent)."""
    raw = request.context.get(key)
    if raw is None:
        return np.zeros(0, np.int64)
    arr = np.asarray(raw)
    if arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"request context {key}={raw!r} must hold item indices (integers)")
    return arr.astype(np.int64).ravel()


def member(items: np.ndarray, ref: np.ndarray, *, assume_sorted: bool = False) -> np.ndarray:
    """Boolean mask: which ``items`` are in ``ref`` (binary search; cheaper than np.isin here)."""
    if ref.size == 0 or items.size == 0:
        return np.zeros(items.shape, bool)
    if ref.size <= 8:  # a few ids: one broadcast compare beats sort + search
        return (items[:, None] == ref[None, :]).any(axis=1)
    s = ref if assume_sorted else np.sort(ref)
    pos = np.minimum(np.searchsorted(s, items), s.size - 1)
    return s[pos] == items


def drops_by_code(
    stage: str, items: np.ndarray, codes: np.ndarray, reasons: Sequence[str]
) -> list[Drop]:
    """One :class:`Drop` per distinct reason code (code -1 = kept)."""
    if len(reasons) == 1:
        hit = codes >= 0
        return [Drop(stage=stage, reason=reasons[0], items=items[hit])] if hit.any() else []
    counts = np.bincount(codes + 1, minlength=len(reasons) + 1)  # np.unique is slow on tiny arrays
    return [
        Drop(stage=stage, reason=reasons[c], items=items[codes == c])
        for c in np.flatnonzero(counts[1:]).tolist()
    ]


class Rule:
    """Base class of business rules: validated config in, ``apply`` out.

    Subclasses set ``kind`` (registry name), ``Config`` (a :class:`RuleConfig`),
    ``requires`` (item attributes that must be present) and ``drops_items`` (False for
    re-orderers), and implement ``_build`` (one-off precomputation) and ``apply``.
    Construct with ``Rule(attributes, **config)`` or :func:`shortlist.rules.build_rule`;
    without attributes, item ids in configs are taken as item indices.
    """

    kind: ClassVar[str] = ""
    Config: ClassVar[type[RuleConfig]] = RuleConfig
    requires: ClassVar[tuple[str, ...]] = ()
    drops_items: ClassVar[bool] = True

    def __init__(self, attributes: ItemAttributes | None = None, **params: Any) -> None:
        self.config = validate_config(f"rule {self.kind!r}", self.Config, params)
        self.name: str = self.config.name or self.kind
        self.attributes = attributes if attributes is not None else ItemAttributes(0)
        for attr in self.requires:
            self.attributes.require(attr, self.kind)
        self._build()

    def __repr__(self) -> str:
        params = self.config.model_dump(exclude_defaults=True)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    def context_item_keys(self) -> dict[str, str]:
        """Request context keys that hold items, and their shape (``"items"`` or ``"pins"``).

        Rules read item *indices* there; a pipeline request built from external ids
        (``Pipeline.make_request``, the HTTP API) translates those keys from item ids first.
        """
        return {}

    def _build(self) -> None:
        """Precompute lookups from the attributes (called once by ``__init__``)."""

    def __call__(self, request: Request, candidates: Candidates) -> Candidates:
        """The kept candidates, in order; what this rule dropped is added to their ``drops``."""
        out, drops = self.apply(request, candidates, request.k)
        if drops or out.drops is not candidates.drops:
            out.drops = [*candidates.drops, *drops]
        return out

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Return the kept candidates (in order) and what was dropped, with reasons (override)."""
        raise NotImplementedError

    def _filter(
        self, candidates: Candidates, codes: np.ndarray, reasons: Sequence[str]
    ) -> tuple[Candidates, list[Drop]]:
        """Drop the candidates whose reason code is >= 0, keeping the order of the others."""
        drop = codes >= 0
        if not drop.any():
            return candidates, []
        return candidates.take(~drop), drops_by_code(self.name, candidates.items, codes, reasons)


def apply_rules(
    rules: Iterable[Rule], request: Request, candidates: Candidates, k: int
) -> tuple[Candidates, list[Drop]]:
    """Apply ``rules`` in order; return the final candidates and every drop record."""
    drops: list[Drop] = []
    for rule in rules:
        candidates, d = rule.apply(request, candidates, k)
        drops.extend(d)
    return candidates, drops  # the same as calling each rule(request, candidates) with request.k = k
