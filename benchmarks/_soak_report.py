"""Figures of benchmarks/soak.py: latency per minute, errors vs retries during the restart, RSS drift, the plot."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _soak_client import Record

__all__ = ["Window", "classify", "per_minute", "plot", "rss_lives"]

#: a failure this soon after the new server answered still comes from the restart (a pooled
#: connection to the old server, found closed only when used)
GRACE_S = 2.0


@dataclass
class Window:
    """The planned restart: signal sent at ``start``, new server answering at ``end`` (s since the soak began)."""

    start: float
    end: float

    def holds(self, t: float) -> bool:
        return self.start <= t <= self.end + GRACE_S


def classify(rec: Record, window: Window | None) -> str:
    """What became of a request.

    "ok": answered 2xx at the first attempt; "retried": failed to connect (or lost its
    connection) only during the restart, resent, then answered 2xx; "held": due during the
    restart and answered 2xx without failing itself (it waited for a connection while the
    client's connections were retrying); "error": anything else.
    """
    if not rec.ok:
        return "error"
    if rec.failures:
        during = window is not None and all(window.holds(t) for t, _ in rec.failures)
        return "retried" if during else "error"  # a refused connection while the server should be up is an error
    return "held" if window is not None and window.start <= rec.due <= window.end else "ok"


def _pct(ms: list[float], q: float) -> float:
    return float(np.percentile(ms, q)) if ms else float("nan")


def per_minute(records: list[Record], seconds: float, window: Window | None, bucket_s: float = 60.0) -> list[dict]:
    """One row per ``bucket_s`` of due time: p50/p99 of the "ok" requests, errors, those caught in the restart."""
    n = max(1, int(np.ceil(seconds / bucket_s)))
    rows = [{"start_s": i * bucket_s, "ms": [], "recommend_ms": [], "event_ms": [], "lag_ms": [], "errors": 0,
             "restart": 0} for i in range(n)]
    for rec in records:
        row = rows[min(int(rec.due // bucket_s), n - 1)]
        verdict = classify(rec, window)
        if verdict == "ok":
            row["ms"].append(rec.ms)
            row["lag_ms"].append(rec.lag_ms)
            row[f"{rec.kind}_ms"].append(rec.ms)
        else:
            row["errors" if verdict == "error" else "restart"] += 1
    out = []
    for row in rows:
        end = row["start_s"] + bucket_s
        out.append({"start_s": row["start_s"], "requests": len(row["ms"]) + row["errors"] + row["restart"],
                    "p50_ms": _pct(row["ms"], 50), "p99_ms": _pct(row["ms"], 99),
                    "recommend_p99_ms": _pct(row["recommend_ms"], 99), "event_p99_ms": _pct(row["event_ms"], 99),
                    "send_lag_p99_ms": _pct(row["lag_ms"], 99),
                    "errors": row["errors"], "retried_restart": row["restart"],
                    "has_restart": window is not None and window.start < end
                    and window.end + GRACE_S >= row["start_s"]})
    return out


def rss_lives(samples: list[tuple[float, float, int]], warm_s: float, life_starts: list[float]) -> list[dict]:
    """Per server process life: RSS after its warm-up (``warm_s`` after it began serving soak traffic).

    ``samples`` are (s since the soak began, MiB, life index); ``life_starts`` when each life
    began serving (0 for the first, the restart's end for the next).
    """
    out = []
    for life, began in enumerate(life_starts):
        mib = [m for t, m, lf in samples if lf == life and t >= began + warm_s]
        if not mib:
            out.append({"life": life, "samples": 0})
            continue
        med = float(np.median(mib))
        out.append({"life": life, "samples": len(mib), "first_mib": mib[0], "last_mib": mib[-1],
                    "min_mib": min(mib), "max_mib": max(mib), "median_mib": med,
                    "max_dev": max(abs(m - med) for m in mib) / med})
    return out


def plot(path: Path, records: list[Record], rss: list[tuple[float, float, int]], seconds: float,
         window: Window | None, title: str, bucket_s: float = 10.0) -> Path | None:
    """p50/p99 per ``bucket_s`` and server RSS over time, the restart shaded; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = per_minute(records, seconds, window, bucket_s)
    t = [(r["start_s"] + bucket_s / 2) / 60 for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(t, [r["p99_ms"] for r in rows], label="p99", color="tab:red")
    ax1.plot(t, [r["p50_ms"] for r in rows], label="p50", color="tab:blue")
    ax1.set_yscale("log")
    ax1.set_ylabel(f"latency ms (per {bucket_s:g} s)")
    ax1.legend(loc="upper left")
    for life in sorted({lf for _, _, lf in rss}):
        pts = [(s / 60, m) for s, m, lf in rss if lf == life]
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:green", label="server RSS" if not life else None)
    ax2.set_ylabel("RSS MiB")
    ax2.set_xlabel("minutes")
    ax2.legend(loc="lower right")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if window is not None:
            ax.axvspan(window.start / 60, window.end / 60, color="grey", alpha=0.3, label=None)
    fig.suptitle(textwrap.fill(title, 130), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
