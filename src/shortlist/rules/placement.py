"""Placement: pin given items at given positions (apply last)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shortlist.errors import ConfigError, DataError
from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig
from shortlist.rules.registry import register_rule

__all__ = ["Pin", "Pinned"]


class Pin(BaseModel):
    """One pinned item: an item id and its 0-based position."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: int | str = Field(..., description="an item id")
    position: int = Field(..., ge=0, description="an integer >= 0 (0 = top)")


def _fill(column: np.ndarray, n: int) -> np.ndarray:
    """``n`` placeholder rows for an aligned column (NaN / -1 / zeros by dtype)."""
    shape = (n, *column.shape[1:])
    if column.dtype.kind == "f":
        return np.full(shape, np.nan, column.dtype)
    if column.dtype.kind == "i":
        return np.full(shape, -1, column.dtype)
    return np.zeros(shape, column.dtype)


@register_rule("pinned")
class Pinned(Rule):
    """Put given items at given positions; the others keep their relative order.

    Pins come from ``pins`` (item ids) and from ``context[context_key]`` (item indices, as
    ``[{"item": i, "position": p}, ...]`` or ``[(i, p), ...]``); a request pin overrides a
    configured pin of the same item, and takes the position when two pins ask for the same one
    (the other goes right after). A position past the end puts the item last. A pinned item
    that is not a candidate is skipped, or inserted when ``insert_missing`` (then it bypasses
    every earlier rule - an editorial override - and takes the score of the item it
    displaces). Nothing is dropped.
    """

    class Config(RuleConfig):
        pins: list[Pin] = Field(
            default_factory=list, description="a list of {item = <id>, position = <int>} tables"
        )
        context_key: str = Field(
            "pinned", description="the request context key holding pins (item indices)"
        )
        insert_missing: bool = Field(
            False, description="true to insert pinned items that are not candidates"
        )

        @model_validator(mode="after")
        def _distinct(self) -> Pinned.Config:
            for attr in ("item", "position"):
                vals = [getattr(p, attr) for p in self.pins]
                dup = {v for v in vals if vals.count(v) > 1}
                if dup:
                    raise ValueError(
                        f"pins: {attr} {min(dup, key=str)!r} appears twice; "
                        f"fix: give each pinned item one position and each position one item"
                    )
            return self

    drops_items = False

    def _build(self) -> None:
        ids = [p.item for p in self.config.pins]
        idx = self.attributes.index_of(ids, what="pins.item")
        bad = [ids[i] for i in np.flatnonzero(idx < 0)]
        if bad:
            raise ConfigError(
                f"rule {self.kind!r}: pins.item={bad[0]!r} is not in the catalog; "
                "fix: use an existing item id"
            )
        self.pins_ = {int(i): p.position for i, p in zip(idx.tolist(), self.config.pins) if i >= 0}

    def context_item_keys(self) -> dict[str, str]:
        return {self.config.context_key: "pins"}

    def _request_pins(self, request: Request) -> dict[int, int]:
        raw: Any = request.context.get(self.config.context_key)
        if not raw:
            return {}
        out: dict[int, int] = {}
        try:
            entries: Iterable[Any] = raw.items() if isinstance(raw, dict) else raw
            for e in entries:
                item, pos = (e["item"], e["position"]) if isinstance(e, dict) else e
                out[int(item)] = int(pos)
        except (TypeError, ValueError, KeyError):
            raise DataError(
                f"request context {self.config.context_key}={raw!r}: give a list of "
                "{'item': index, 'position': int} or (index, position) pairs"
            ) from None
        return out

    def apply(
        self, request: Request, candidates: Candidates, k: int
    ) -> tuple[Candidates, list[Drop]]:
        """Move (or insert) pinned items to their positions."""
        from_request = self._request_pins(request)
        pins = {**self.pins_, **from_request}
        if not pins:
            return candidates, []
        n = len(candidates)
        pin_items = np.fromiter(pins.keys(), np.int64, len(pins))
        pin_pos = np.fromiter(pins.values(), np.int64, len(pins))
        eq = candidates.items[None, :] == pin_items[:, None]
        at = np.where(eq.any(axis=1), eq.argmax(axis=1), -1)
        if not self.config.insert_missing:
            pin_items, pin_pos, at = pin_items[at >= 0], pin_pos[at >= 0], at[at >= 0]
        if pin_items.size == 0:
            return candidates, []
        missing = at < 0
        if missing.any():
            candidates = self._with_extra(candidates, pin_items[missing], pin_pos[missing])
            at[missing] = n + np.arange(int(missing.sum()))
        rest = np.ones(len(candidates), bool)
        rest[at] = False
        order = np.flatnonzero(rest).tolist()
        # same position twice (config + request): the request pin gets it, the other goes next
        config_pin = np.array([int(i) not in from_request for i in pin_items])
        last = -1
        for p_idx in np.lexsort((at, config_pin, pin_pos)).tolist():
            last = min(max(int(pin_pos[p_idx]), last + 1), len(order))
            order.insert(last, int(at[p_idx]))
        return candidates.take(np.asarray(order, np.int64)), []

    @staticmethod
    def _with_extra(c: Candidates, items: np.ndarray, positions: np.ndarray) -> Candidates:
        n = len(c)
        scores = np.array(
            [c.scores[min(int(p), n - 1)] if n else 0.0 for p in positions], np.float32
        )
        return Candidates(
            np.concatenate([c.items, items]),
            np.concatenate([c.scores, scores]),
            {k: np.concatenate([v, _fill(v, items.size)]) for k, v in c.source_scores.items()},
            {k: np.concatenate([v, _fill(v, items.size)]) for k, v in c.source_ranks.items()},
            {k: np.concatenate([v, _fill(v, items.size)]) for k, v in c.features.items()},
            None if c.rows is None else np.concatenate([c.rows, _fill(c.rows, items.size)]),
            list(c.drops),
        )
