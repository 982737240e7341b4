"""Cumulative regret of bandit policies on the synthetic world: contextual vs context-free.

Setup (see docs/simulation.md): world preset ``small`` (2,000 users, 2,000 items of which
~1,400 are published during the run), 5,000 user arrivals spread over the 60-day span,
one item per step, a candidate pool of the 50 freshest + 50 most consumed items, and
10 seeds (users, context noise and clicks differ per seed; the world is fixed).
Contextual policies see ``user-taste-noisy`` (a random projection of the hidden taste
with as much noise as signal per coordinate) - never the taste itself.

Three tables:

1. policies: cumulative reward and regret (mean ± std over seeds), discoverable corpus,
   coverage, seconds, and the regret ratio to the best context-free policy (the peer:
   the same simulation without context); writes ``bandit_regret.png`` (mean ± std bands);
2. context sweep: how informative the context must be for LinUCB / LinTS to win;
3. exploration sweep: regret vs discoverable corpus as exploration grows.

Run (about 4-5 minutes on a busy 2-core machine; ``--quick``: about 30 s):

    nice -n 10 .venv/bin/python benchmarks/bandit_regret.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

CONTEXT_FREE = ("egreedy", "ucb1", "ts-beta")
CONTEXTUAL = ("linucb(alpha=0.3)", "lints(v=0.1)")


def _factory(label: str):
    from shortlist.bandits.simulation import make_policy

    name, _, rest = label.partition("(")
    params = dict(p.split("=") for p in rest.rstrip(")").split(",") if p) if rest else {}
    return lambda seed: make_policy(name, seed=seed, **params)


def _table(results, best_free: float | None) -> None:
    print(f"{'policy':<22} {'reward':>9} {'regret (mean ± std)':>21} {'ratio':>6} {'discoverable':>13} "
          f"{'shown cov':>9} {'click cov':>9} {'s/seed':>7}")
    for r in results.values():
        s = r.summary()
        ratio = s["regret"] / best_free if best_free else float("nan")
        print(f"{s['policy']:<22} {s['reward']:>9.1f} {s['regret']:>11.1f} ± {s['regret_std']:<7.1f} "
              f"{ratio:>6.2f} {s['discoverable']:>13.1f} {s['shown_coverage']:>9.3f} "
              f"{s['click_coverage']:>9.3f} {s['seconds'] / len(r.seeds):>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,500 steps, 3 seeds, sweeps 2 (full: 5,000 / 10 / 4)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "shortlist_bandit_regret"),
                    help="folder for the PNG (default: a folder in the system temp directory)")
    args = ap.parse_args()
    from shortlist.bandits.simulation import plot_results, simulate_policies
    from shortlist.data.world import generate_world

    steps, seeds, sweep_seeds = (1500, 3, 2) if args.quick else (5000, 10, 4)
    world = generate_world("small", seed=0)
    kw = {"steps": steps, "pool": (50, 50), "progress": False}
    t0 = time.perf_counter()

    labels = ("random", *CONTEXT_FREE, *CONTEXTUAL, "linucb", "lints")
    res = simulate_policies({lab: _factory(lab) for lab in labels}, world, seeds=seeds, **kw)
    free = min(res[n].cum_regret[:, -1].mean() for n in CONTEXT_FREE)
    print(f"{world!r}; {steps} steps x {seeds} seeds, pool 50 freshest + 50 most consumed, "
          f"context user-taste-noisy (noise 1); {res['random'].info['fresh_items']} fresh items")
    print("(linucb / lints without parameters: the defaults alpha = 1, v = 1; ratio = regret / best "
          "context-free regret)")
    _table(res, free)
    png = plot_results({k: v for k, v in res.items() if k in ("random", *CONTEXT_FREE, *CONTEXTUAL)},
                       Path(args.out) / "bandit_regret.png",
                       title=f"small world, {steps} steps, mean ± std over {seeds} seeds")
    for lab in CONTEXTUAL:
        reg = res[lab].cum_regret[:, -1]
        best = min(CONTEXT_FREE, key=lambda n: res[n].cum_regret[:, -1].mean())
        ref = res[best].cum_regret[:, -1]
        # Welch t statistic of the difference in final regret over seeds
        tstat = (ref.mean() - reg.mean()) / np.sqrt(reg.var(ddof=1) / reg.size + ref.var(ddof=1) / ref.size)
        verdict = "lower" if reg.mean() < ref.mean() else "NOT lower"
        print(f"target: {lab} regret {reg.mean():.1f} is {verdict} than the best context-free "
              f"({best}, {ref.mean():.1f}); Welch t = {tstat:.1f}")
    print(f"plot: {png}\n")

    print(f"context sweep ({sweep_seeds} seeds): final regret (mean ± std); context-free reference: "
          f"egreedy {res['egreedy'].cum_regret[:, -1].mean():.1f} (table above)")
    print(f"{'context':<28} {'linucb(alpha=0.3)':>20} {'lints(v=0.1)':>20}")
    cases = [("none", 1.0), ("user-features", 1.0), ("user-history", 1.0),
             ("user-taste-noisy", 2.0), ("user-taste-noisy", 1.0), ("user-taste-noisy", 0.5)]
    for ctx, noise in cases:
        r = simulate_policies({lab: _factory(lab) for lab in CONTEXTUAL}, world,
                              seeds=sweep_seeds, context=ctx, context_noise=noise, **kw)
        cells = [f"{v.cum_regret[:, -1].mean():>11.1f} ± {v.cum_regret[:, -1].std(ddof=1):<6.1f}"
                 for v in r.values()]
        name = ctx if ctx != "user-taste-noisy" else f"{ctx} (noise {noise:g})"
        print(f"{name:<28} " + " ".join(f"{c:>20}" for c in cells))

    print(f"\nexploration sweep ({sweep_seeds} seeds): regret vs discoverable corpus (fresh items with "
          f">= 3 clicks within 500 steps of launch); egreedy = epsilon 0.1, ucb1 and ts-beta: table above")
    sweep = ("egreedy(epsilon=0.0)", "egreedy(epsilon=0.3)", "linucb(alpha=0.1)", "linucb(alpha=1.0)",
             "linucb(alpha=3.0)", "lints(v=0.3)", "lints(v=1.0)")
    r = simulate_policies({lab: _factory(lab) for lab in sweep}, world, seeds=sweep_seeds, **kw)
    _table(r, free)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s (shared machine: timings are noisy)")


if __name__ == "__main__":
    main()
