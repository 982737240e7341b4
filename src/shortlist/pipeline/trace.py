"""Per-request trace: what each stage received, kept, dropped (and why), and how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shortlist.data.vocab import Vocab
from shortlist.retrieval.types import Drop

__all__ = ["StageTrace", "Trace"]


@dataclass
class StageTrace:
    """One stage of one request."""

    stage: str
    kind: str
    n_in: int
    n_out: int
    ms: float
    #: the stage's output items and scores, in any order (sorted only when shown: most traces
    #: are never read, and a request should not pay for sorting each stage's output)
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    drops: list[Drop] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def top(self, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best (items, scores) of the stage's output, best first (ties: lower item)."""
        if self.items.size == 0:
            return self.items, self.scores
        s = self.scores
        if not (s[1:] > s[:-1]).any():  # stages hand over sorted candidates
            return self.items[:n], s[:n]
        order = np.lexsort((self.items, -s))[:n]
        return self.items[order], s[order]

    def to_dict(self, items: Vocab, top: int = 10) -> dict[str, Any]:
        """JSON-ready form with external item ids."""
        best, best_scores = self.top(top)
        out: dict[str, Any] = {
            "stage": self.stage, "kind": self.kind, "in": self.n_in, "out": self.n_out,
            "ms": round(self.ms, 3),
            "top": [{"item_id": _py(i), "score": float(s)} for i, s in zip(items.lookup(best), best_scores)],
        }
        if self.drops:
            out["dropped"] = [{"rule": d.stage, "reason": d.reason, "count": int(d.items.size),
                               "items": [_py(x) for x in items.lookup(d.items[:20])]} for d in self.drops]
        if self.extra:
            out.update(self.extra)
        return out


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


@dataclass
class Trace:
    """All stages of one request, in order."""

    stages: list[StageTrace] = field(default_factory=list)
    #: one line per component the pipeline left out for lack of data (same for every request)
    omitted: tuple[str, ...] = ()

    def add(self, stage: StageTrace) -> None:
        self.stages.append(stage)

    @property
    def total_ms(self) -> float:
        return float(sum(s.ms for s in self.stages))

    def to_dict(self, items: Vocab, top: int = 10) -> list[dict[str, Any]]:
        return [s.to_dict(items, top) for s in self.stages]

    def format(self, items: Vocab, top: int = 5) -> str:
        """Human-readable multi-line explanation."""
        lines = []
        for s in self.stages:
            lines.append(f"{s.stage:<18} {s.kind:<12} {s.n_in:>6} -> {s.n_out:<6} {s.ms:7.3f} ms")
            best, best_scores = s.top(top)
            if best.size:
                shown = ", ".join(f"{_py(i)} ({sc:.3f})" for i, sc in zip(items.lookup(best), best_scores))
                lines.append(f"{'':<20}top: {shown}")
            for d in s.drops:
                ids = ", ".join(str(_py(x)) for x in items.lookup(d.items[:5]))
                lines.append(f"{'':<20}dropped {d.items.size} ({d.reason}): {ids}{' ...' if d.items.size > 5 else ''}")
        lines.append(f"{'total':<18} {'':<12} {'':>16} {self.total_ms:7.3f} ms")
        lines += list(self.omitted)
        return "\n".join(lines)
