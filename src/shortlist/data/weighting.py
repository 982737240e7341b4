"""Weighting schemes that turn implicit-feedback events into user x item cell weights."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from shortlist.errors import ConfigError, DataError

__all__ = ["Weighting", "WEIGHTING_KINDS"]

WEIGHTING_KINDS = ("binary", "count", "value", "log", "threshold", "time-decay")


class Weighting(BaseModel):
    """How the events of one (user, item) cell become its weight.

    - ``binary``: 1 for every observed cell.
    - ``count``: number of events in the cell (repeat consumption counts).
    - ``value``: sum of the events' values (e.g. play counts).
    - ``log``: ``log(1 + sum of values)`` - tames heavy users and heavy items.
    - ``threshold``: 1 where the largest value reaches ``threshold`` (e.g. ratings >= 4),
      the cell is dropped otherwise.
    - ``time-decay``: ``sum(value * 0.5 ** ((now - t) / half_life))`` - recent events weigh
      more; needs timestamps.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["binary", "count", "value", "log", "threshold", "time-decay"] = "binary"
    threshold: float | None = None
    half_life: float | None = None
    now: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "Weighting":
        if self.kind == "threshold" and self.threshold is None:
            raise ConfigError("weighting 'threshold' needs a threshold value, e.g. threshold=4")
        if self.kind == "time-decay" and (self.half_life is None or self.half_life <= 0):
            raise ConfigError(
                f"weighting 'time-decay' needs half_life > 0 (seconds), got {self.half_life!r}"
            )
        return self

    @classmethod
    def parse(cls, spec: "str | Weighting | None") -> "Weighting":
        """Parse ``"binary"``, ``"threshold:4"``, ``"time-decay:86400"`` or pass through."""
        if spec is None:
            return cls()
        if isinstance(spec, Weighting):
            return spec
        name, _, arg = str(spec).partition(":")
        if name not in WEIGHTING_KINDS:
            raise ConfigError(
                f"unknown weighting {spec!r}; choose one of {', '.join(WEIGHTING_KINDS)} "
                "(threshold:T and time-decay:HALF_LIFE_SECONDS take a number)"
            )
        try:
            number = float(arg) if arg else None
        except ValueError as exc:
            raise ConfigError(f"weighting {spec!r}: {arg!r} is not a number") from exc
        if name == "threshold":
            if number is None:
                raise ConfigError("weighting 'threshold' needs a value, e.g. threshold:4")
            return cls(kind=name, threshold=number)
        if name == "time-decay":
            if number is None or number <= 0:
                raise ConfigError(
                    f"weighting 'time-decay' needs half_life > 0 seconds, got {arg!r}; e.g. time-decay:604800"
                )
            return cls(kind=name, half_life=number)
        return cls(kind=name)

    def __str__(self) -> str:
        if self.kind == "threshold":
            return f"threshold:{self.threshold:g}"
        if self.kind == "time-decay":
            return f"time-decay:{self.half_life:g}"
        return self.kind

    def event_weights(
        self, value: np.ndarray, timestamp: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-event contribution and an optional keep-mask (for ``threshold``).

        Cells are then combined by summing contributions; :meth:`finish` post-processes.
        """
        n = value.shape[0]
        if self.kind in ("binary", "count"):
            return np.ones(n, np.float32), None
        if self.kind in ("value", "log"):
            return value.astype(np.float32, copy=False), None
        if self.kind == "threshold":
            keep = value >= self.threshold
            return np.ones(int(keep.sum()), np.float32), keep
        if timestamp is None:
            raise DataError(
                "weighting 'time-decay' needs timestamps; give a time column "
                "(--columns ...,time=COL) or choose another weighting"
            )
        now = float(timestamp.max()) if self.now is None else float(self.now)
        age = np.maximum(now - timestamp.astype(np.float64), 0.0)
        return (value * np.power(0.5, age / self.half_life)).astype(np.float32), None

    def finish(self, summed: np.ndarray) -> np.ndarray:
        """Turn the per-cell sums into final weights."""
        if self.kind in ("binary", "threshold"):
            return np.ones_like(summed, dtype=np.float32)
        if self.kind == "log":
            return np.log1p(summed).astype(np.float32)
        return summed.astype(np.float32, copy=False)
