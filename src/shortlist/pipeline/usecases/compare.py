"""compare_usecase: the product's spec vs the generic default pipeline vs popularity, on the same traffic."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.data.world.usecases import usecase_world
from shortlist.pipeline.defaults import default_config_path
from shortlist.pipeline.pipeline import Pipeline
from shortlist.pipeline.spec import load_spec
from shortlist.pipeline.usecases.policies import BanditPolicy, PipelinePolicy, PopularityPolicy, RowsPolicy
from shortlist.pipeline.usecases.spec import load_usecase, usecase_config_path
from shortlist.pipeline.usecases.traffic import METRICS, simulate_traffic

__all__ = ["compare_usecase", "plot_comparison"]

POLICY_NAMES = ("preset", "default", "popularity")


def _default_pipeline(budget: float | str) -> Pipeline:
    spec = load_spec(default_config_path())
    spec.tuning.budget = str(budget)
    return Pipeline(spec)


def compare_usecase(name: str, *, seed: int = 0, size: str = "demo", requests: int = 1000,
                    budget: float | str = 0, spec_path: str | Path | None = None,
                    baselines: bool = True, ablate: bool = True) -> dict[str, Any]:
    """Train the three policies on the product's training log, serve the same requests, return the metric.

    ``budget`` is the default pipeline's tuning budget (0: its neutral weights, no tuning). A spec with
    an online layer (a bandit over the list, a bandit ordering rows) also serves ``preset-off``: the
    same pipeline without that layer (the blend's top k; rows in the baselines' fixed order), which
    shows what the layer adds (``ablate=False`` skips it). ``baselines=False`` serves the preset
    (and ``preset-off``) only.
    """
    t0 = time.perf_counter()
    usecase, pspec = load_usecase(spec_path or usecase_config_path(name))
    ucw = usecase_world(name, size=size, seed=seed)
    ds = ucw.dataset()
    preset = Pipeline(pspec).fit(ds, progress=False)
    default = _default_pipeline(budget).fit(ds, progress=False) if baselines else None
    fit_s = time.perf_counter() - t0
    rows = usecase.rows
    if usecase.bandit is not None:
        mine: Any = BanditPolicy(preset, usecase.bandit, ds, ucw.world.items.publish.astype(np.float64), seed=seed)
    elif rows is not None:
        mine = RowsPolicy(preset, rows, ds, seed=seed)
    else:
        mine = PipelinePolicy(preset, dataset=ds, usecase=usecase)
    policies = {"preset": mine}
    if ablate and (usecase.bandit is not None or rows is not None):
        policies["preset-off"] = PipelinePolicy(preset, rows=rows, dataset=ds, usecase=usecase)
    if default is not None:
        policies |= {"default": PipelinePolicy(default, rows=rows, dataset=ds),
                     "popularity": PopularityPolicy(ds, rows=rows)}
    logs = simulate_traffic(ucw, policies, {"preset": usecase, "preset-off": usecase}, ds.interactions.matrix,
                            requests=requests, k=pspec.k, seed=seed)
    out: dict[str, Any] = {"use_case": name, "seed": seed, "metric": METRICS[name], "requests": requests,
                           "world": repr(ucw.world), "fit_seconds": round(fit_s, 1), "policies": {}}
    for pname, log in logs.items():
        m = np.asarray(log.metric)
        half = 1.96 * m.std(ddof=1) / np.sqrt(m.size) if m.size > 1 else 0.0
        out["policies"][pname] = {
            "per_100": 100 * float(m.mean()), "ci95_per_100": 100 * float(half), "shown": log.shown,
            "violations": dict(log.violations), "failed_orders": log.failed_orders,
            "creators_shown": int((log.exposure > 0).sum()), "exposure_gini": _gini(log.exposure),
            "sellers_with_orders": int((log.orders > 0).sum())}
    if isinstance(mine, RowsPolicy):
        out["row_allocation"] = mine.allocation()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _gini(x: np.ndarray) -> float:
    """Gini coefficient of exposure over creators/sellers (0 = equal, 1 = one takes all)."""
    x = np.sort(np.asarray(x, np.float64))
    if x.sum() <= 0:
        return 0.0
    n = x.size
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def plot_comparison(result: dict[str, Any], path: str | Path) -> Path | None:
    """Bar chart of the metric per policy with 95% intervals; None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(result["policies"])
    vals = [result["policies"][n]["per_100"] for n in names]
    errs = [result["policies"][n]["ci95_per_100"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh(names[::-1], vals[::-1], xerr=errs[::-1], color=["#999999", "#8da0cb", "#c0c0e0", "#4c72b0"][-len(names):])
    ax.set_xlabel(f"{result['metric']} per 100 requests (95% interval)")
    ax.set_title(f"use case '{result['use_case']}', seed {result['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
