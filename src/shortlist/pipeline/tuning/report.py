"""The tuning report: every trial's settings and validation score, what was chosen and why."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shortlist.core.persistence import Part, write_part

__all__ = ["JOURNAL", "ModelTuning", "TuningReport"]

#: the Optuna journal file the searches append to, next to the report
JOURNAL = "optuna-journal.log"


@dataclass
class ModelTuning:
    """One model's search: its trials, its best settings, or why it was skipped."""

    name: str
    kind: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_params: dict[str, Any] = field(default_factory=dict)
    best_score: float | None = None
    seconds: float = 0.0
    estimate: str = ""
    skipped: str | None = None


@dataclass
class TuningReport:
    """What the tuner tried, on which validation data, and what it chose."""

    metric: str
    budget_seconds: float
    seconds: float = 0.0
    folds: int = 1
    validation_users: int = 0
    weighting: dict[str, Any] = field(default_factory=dict)
    models: list[ModelTuning] = field(default_factory=list)
    blend: dict[str, Any] = field(default_factory=dict)
    final_stage: dict[str, Any] = field(default_factory=dict)
    chosen: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    @property
    def best_single(self) -> tuple[str, float] | None:
        """(model name, validation score) of the best single tuned model."""
        scored = [(m.name, m.best_score) for m in self.models if m.best_score is not None]
        return max(scored, key=lambda t: t[1]) if scored else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        best = self.best_single
        out["best_single"] = {"model": best[0], "score": best[1]} if best else None
        return out

    def summary(self) -> dict[str, Any]:
        """The short form kept in results and in ``pipeline.json`` (no per-trial lists)."""
        d = self.to_dict()
        d["models"] = [{k: v for k, v in m.items() if k != "trials"} | {"n_trials": len(m["trials"])}
                       for m in d["models"]]
        d["blend"] = {k: v for k, v in d["blend"].items() if k != "trials"}
        return d

    def to_text(self) -> str:
        """A readable report: one line per model, the blend, the final stage, the reasons."""
        m = self.metric
        lines = [(f"tuning on {self.folds} validation fold(s) of the training part, {self.validation_users} "
                  f"validation users, {self.seconds:.0f} s of a {self.budget_seconds:.0f} s budget")]
        if self.weighting:
            lines.append(f"weighting: {self.weighting.get('chosen')} "
                         f"(validation {m}: {self._fmt(self.weighting.get('scores', {}))})")
        lines.append(f"{'model':<10} {'kind':<14} {'trials':>6} {'best ' + m:>12} {'seconds':>8}  best settings")
        for t in self.models:
            if t.skipped:
                lines.append(f"{t.name:<10} {t.kind:<14} {'-':>6} {'skipped':>12} {'':>8}  {t.skipped}")
                continue
            score = f"{t.best_score:.4f}" if t.best_score is not None else "-"
            params = ", ".join(f"{k}={_short(v)}" for k, v in t.best_params.items())
            lines.append(f"{t.name:<10} {t.kind:<14} {len(t.trials):>6} {score:>12} {t.seconds:>8.1f}  {params}")
        if self.blend:
            lines.append(f"blend weights ({self.blend.get('n_trials', 0)} trials): "
                         f"{self._fmt(self.blend.get('weights', {}))} -> {m} {self.blend.get('score', 0):.4f}")
        if self.final_stage:
            lines.append(f"final stage (2-fold cross-validation over users): "
                         f"{self._fmt(self.final_stage.get('scores', {}))}; chosen: {self.final_stage.get('chosen')}")
        lines += [f"- {r}" for r in self.reasons]
        lines += list(self.left_out)
        return "\n".join(lines)

    @staticmethod
    def _fmt(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())

    def to_part(self, previous: Path | None = None) -> Part:
        """The report as one saved part: ``report.json`` (every trial) and ``report.txt`` as blobs.

        The Optuna journal that the searches wrote into ``previous`` (the folder this part
        replaces) is kept as a blob too, so it survives the atomic replacement.
        """
        blobs: dict[str, bytes | str] = {"report.json": json.dumps(self.to_dict(), indent=2, default=_json),
                                         "report.txt": self.to_text() + "\n"}
        journal = None if previous is None else previous / JOURNAL
        if journal is not None and journal.is_file():
            blobs[JOURNAL] = journal.read_bytes()
        return Part({"report": 1}, blobs=blobs)

    def save(self, folder: str | Path) -> Path:
        """Write ``report.json`` (every trial) and ``report.txt`` into ``folder`` (the model-folder writer)."""
        return write_part(folder, self.to_part(Path(folder)))


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _json(o: Any) -> Any:
    return o.item() if hasattr(o, "item") else str(o)
