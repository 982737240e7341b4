"""What a bandit run measured: corpus metrics, the per-policy result and its plot.

The **discoverable corpus** (Su et al. 2023, "Long-term value of exploration: measurements,
findings and algorithms") counts the fresh items that reach at least ``min_clicks``
positive interactions within ``window`` steps of their launch. A policy that never
explores keeps showing the same proven items, and fresh items never collect the
feedback that would let them be recommended; exploration grows this corpus.

:func:`discoverable_corpus` and :func:`catalog_coverage` take a flat log of impressions:
one row per item shown, with the step it was shown at and whether it got a positive
interaction. :class:`SimulationResult` holds the curves and metrics of one policy over
several seeds (built by :func:`shortlist.bandits.simulation.simulate`), and
:func:`plot_results` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.errors import ConfigError, DataError

__all__ = ["SimulationResult", "catalog_coverage", "collect_runs", "discoverable_corpus", "plot_results"]


def _log(step: Any, item: Any, positive: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, i, p = (np.asarray(a).reshape(-1) for a in (step, item, positive))
    if not (s.shape == i.shape == p.shape):
        raise DataError(f"step, item and positive must have the same length, got {s.size}, {i.size} "
                        f"and {p.size}; pass one row per impression")
    if i.size and (i.dtype.kind not in "iu" or i.min() < 0):
        raise DataError("item must hold non-negative integer item indices")
    return s.astype(np.int64), i.astype(np.int64), p.astype(bool)


def discoverable_corpus(step: Any, item: Any, positive: Any, launch: Any, *, min_clicks: int = 3,
                        window: int = 500) -> int:
    """Number of fresh items with >= ``min_clicks`` positives in steps ``[launch, launch + window)``.

    ``launch[i]`` is the step at which item ``i`` became available; items with a negative
    launch step are not fresh (e.g. the catalog present at the start) and never count.
    """
    if isinstance(min_clicks, bool) or not isinstance(min_clicks, (int, np.integer)) or min_clicks < 1:
        raise ConfigError(f"min_clicks must be an integer >= 1, got {min_clicks!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ConfigError(f"window must be a positive number of steps, got {window!r}")
    s, i, p = _log(step, item, positive)
    launch = np.asarray(launch, dtype=np.int64).reshape(-1)
    if i.size and i.max() >= launch.size:
        raise DataError(f"item index {i.max()} has no launch step (launch has {launch.size} entries); "
                        "pass one launch step per item")
    li = launch[i]
    inside = p & (li >= 0) & (s >= li) & (s < li + window)
    counts = np.bincount(i[inside], minlength=launch.size)
    return int(np.count_nonzero(counts >= min_clicks))


def catalog_coverage(item: Any, positive: Any, n_items: int) -> tuple[float, float]:
    """(share of the ``n_items`` items ever shown, share ever positively interacted with)."""
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ConfigError(f"n_items must be a positive integer, got {n_items!r}")
    _, i, p = _log(np.zeros(np.size(item)), item, positive)
    if i.size and i.max() >= n_items:
        raise DataError(f"item index {i.max()} is outside the catalog of {n_items} items")
    return np.unique(i).size / n_items, np.unique(i[p]).size / n_items


@dataclass
class SimulationResult:
    """Per-seed curves and corpus metrics of one policy (arrays have one row per seed)."""

    name: str
    seeds: list[int]
    cum_reward: np.ndarray  # realized clicks, cumulative (n_seeds, steps)
    cum_expected_reward: np.ndarray  # sum of the chosen items' click probabilities x examination
    cum_regret: np.ndarray  # cumulative (best expected reward in the pool - obtained expected reward)
    discoverable: np.ndarray  # discoverable corpus per seed
    shown_coverage: np.ndarray  # share of the catalog (available by the end) ever shown
    click_coverage: np.ndarray  # share ever clicked
    seconds: np.ndarray  # wall time of each seed's run (policy + simulator)
    info: dict[str, Any] = field(default_factory=dict)
    #: per seed: ``user``, ``time``, ``n_available`` (steps,), ``shown``, ``clicked`` (steps, k)
    logs: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Number of steps per seed."""
        return int(self.cum_regret.shape[1])

    def band(self, what: str = "regret", kind: str = "std") -> tuple[np.ndarray, np.ndarray]:
        """Mean curve and half-width over seeds: ``std`` or ``ci95`` (1.96 standard errors)."""
        arr = {"regret": self.cum_regret, "reward": self.cum_reward,
               "expected_reward": self.cum_expected_reward}[what]
        sd = arr.std(axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros(arr.shape[1])
        if kind == "ci95":
            sd = 1.96 * sd / np.sqrt(arr.shape[0])
        elif kind != "std":
            raise ConfigError(f"kind must be 'std' or 'ci95', got {kind!r}")
        return arr.mean(axis=0), sd

    def summary(self) -> dict[str, float | str]:
        """Final values: mean and std over seeds."""
        def ms(a: np.ndarray) -> tuple[float, float]:
            return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0

        out: dict[str, float | str] = {"policy": self.name}
        for key, arr in (("reward", self.cum_reward[:, -1]), ("regret", self.cum_regret[:, -1]),
                         ("discoverable", self.discoverable), ("shown_coverage", self.shown_coverage),
                         ("click_coverage", self.click_coverage)):
            out[key], out[key + "_std"] = ms(arr.astype(np.float64))
        out["seconds"] = float(self.seconds.sum())
        return out


def collect_runs(name: str, runs: Sequence[dict[str, Any]], seeds: list[int], *, n_items: int,
                 min_clicks: int, window: int, info: dict[str, Any]) -> SimulationResult:
    """Build a :class:`SimulationResult` from one run per seed.

    Each run holds per-step arrays ``user``, ``time``, ``n_available``, ``reward``,
    ``expected``, ``optimum`` (steps,), ``shown``, ``clicked`` (steps, k) and ``seconds``.
    """
    cols: dict[str, list] = {k: [] for k in ("rew", "exp", "reg", "disc", "cov", "ccov", "sec")}
    logs: list[dict[str, np.ndarray]] = []
    for run in runs:
        shown, clicked, n_avail = run["shown"], run["clicked"], run["n_available"]
        steps, k = shown.shape
        cols["rew"].append(np.cumsum(run["reward"]))
        cols["exp"].append(np.cumsum(run["expected"]))
        cols["reg"].append(np.cumsum(run["optimum"] - run["expected"]))
        # launch step of each item: the first step it is available; the catalog present at
        # the first step is not fresh (-1), nor are items never published during the run
        launch = np.searchsorted(n_avail, np.arange(n_items), side="right")
        launch = np.where((launch == 0) | (launch >= steps), -1, launch)
        step = np.repeat(np.arange(steps), k)
        cols["disc"].append(discoverable_corpus(step, shown.reshape(-1), clicked.reshape(-1), launch,
                                                min_clicks=min_clicks, window=window))
        cov = catalog_coverage(shown.reshape(-1), clicked.reshape(-1), int(n_avail[-1]))
        cols["cov"].append(cov[0])
        cols["ccov"].append(cov[1])
        cols["sec"].append(run["seconds"])
        logs.append({key: run[key] for key in ("user", "time", "n_available", "shown", "clicked")})
        info = {**info, "fresh_items": int(np.count_nonzero(launch >= 0))}
    a = {k: np.asarray(v) for k, v in cols.items()}
    return SimulationResult(name, seeds, a["rew"], a["exp"], a["reg"], a["disc"], a["cov"], a["ccov"],
                            a["sec"], info, logs)


def plot_results(results: Mapping[str, SimulationResult] | Sequence[SimulationResult], path: str | Path, *,
                 band: str = "std", title: str | None = None) -> Path:
    """Cumulative regret and reward curves with bands over seeds (``std`` or ``ci95``) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = list(results.values()) if isinstance(results, Mapping) else list(results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in res:
        x = np.arange(1, r.steps + 1)
        for ax, what in zip(axes, ("regret", "reward")):
            mean, half = r.band(what, band)
            ax.plot(x, mean, label=r.name)
            ax.fill_between(x, mean - half, mean + half, alpha=0.2)
    label = "mean ± std" if band == "std" else "mean ± 95% CI"
    for ax, what in zip(axes, ("regret (expected)", "reward (clicks)")):
        ax.set_xlabel("step")
        ax.set_ylabel(f"cumulative {what}")
        ax.grid(alpha=0.3)
    n = len(res[0].seeds) if res else 0
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title or f"bandit policies on the synthetic world ({label} over {n} seeds)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
