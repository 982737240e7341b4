"""Opening hours: a daily window per item (a seller's hours), unlike the absolute availability window."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from shortlist.retrieval.types import Candidates, Drop, Request
from shortlist.rules.base import Rule, RuleConfig, context_float, request_now
from shortlist.rules.registry import register_rule

__all__ = ["OpeningHours"]

_DAY_S = 86400.0


@register_rule("opening_hours")
class OpeningHours(Rule):
    """Drop items whose seller is closed now: keep ``open <= time of day < close``.

    ``open``/``close`` are the ``available_from``/``available_until`` attributes read as
    seconds after local midnight (map hour columns with ``time_unit_s = 3600``); ``close <
    open`` is a window past midnight (17:00-02:00). The time of day is ``(now + utc_offset_s)
    mod 1 day``, ``now`` from ``context["now"]``, the offset from ``context["utc_offset_s"]``
    or the config. A missing bound (NaN) is open. Drops are recorded as ``"closed"``.
    """

    class Config(RuleConfig):
        utc_offset_s: float = Field(0.0, description="seconds to add to UTC for local time")

    requires = ("available_from", "available_until")

    def apply(self, request: Request, candidates: Candidates, k: int) -> tuple[Candidates, list[Drop]]:
        """Drop candidates outside their daily opening hours."""
        offset = context_float(request, "utc_offset_s", self.config.utc_offset_s)
        tod = (request_now(request) + offset) % _DAY_S
        o = self.attributes.available_from[candidates.items] % _DAY_S
        c = self.attributes.available_until[candidates.items] % _DAY_S
        with np.errstate(invalid="ignore"):
            inside = np.where(o <= c, (o <= tod) & (tod < c), (tod >= o) | (tod < c))
        inside |= np.isnan(o) | np.isnan(c)
        return self._filter(candidates, np.where(inside, -1, 0), ("closed",))
