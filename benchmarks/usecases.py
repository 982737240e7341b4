"""The six use-case presets vs the generic default pipeline and popularity, over seeds.

Each seed is a fresh world (the product's preset) and fresh traffic; every policy serves the
same requests with the same random draws. Prints, per use case, the product's metric per 100
requests: mean over seeds with a 95% t-interval, and the preset's ratio to the best baseline;
then the paired differences (preset minus each baseline, and minus ``preset-off``, the same spec
without its online layer, for news and streaming) and the streaming row bandit's allocation.
The specs' settings were chosen on seeds 100-102 (``usecases_validate.py``), not on these.

    nice -n 5 .venv/bin/python benchmarks/usecases.py --seeds 5 --requests 500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import stats

from shortlist.data.world.usecases import USE_CASES
from shortlist.pipeline.usecases import compare_usecase


def _interval(x: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean."""
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--use-case", action="append", choices=USE_CASES, help="repeatable; default: all six")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--streaming-requests", type=int, help="sessions per seed for streaming (default: --requests)")
    ap.add_argument("--size", default="demo", choices=("tiny", "demo"))
    ap.add_argument("--json", metavar="FILE", help="also write every run's result here")
    args = ap.parse_args()
    runs = []
    print(f"{'use case':<10} {'metric (per 100 requests)':<44} {'preset':>16} {'default':>16} {'popularity':>16} "
          f"{'ratio':>6} {'wins':>5}")
    for name in args.use_case or USE_CASES:
        t0 = time.perf_counter()
        n_req = args.streaming_requests if name == "streaming" and args.streaming_requests else args.requests
        res = [compare_usecase(name, seed=s, size=args.size, requests=n_req) for s in range(args.seeds)]
        runs += res
        vals = {p: np.asarray([r["policies"][p]["per_100"] for r in res]) for p in ("preset", "default", "popularity")}
        best = np.maximum(vals["default"], vals["popularity"])
        wins = int((vals["preset"] > best).sum())
        cells = " ".join(f"{v.mean():>8.1f} ± {_interval(v):<5.1f}" for v in vals.values())
        ratio = vals["preset"].mean() / max(best.mean(), 1e-9)
        print(f"{name:<10} {res[0]['metric']:<44} {cells} {ratio:>6.2f} {wins:>2}/{args.seeds}"
              f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
        if "preset-off" in res[0]["policies"]:
            vals["preset-off"] = np.asarray([r["policies"]["preset-off"]["per_100"] for r in res])
            print(f"{'':<10}   preset-off (the spec without its online layer) {vals['preset-off'].mean():>8.1f} ± "
                  f"{_interval(vals['preset-off']):.1f}")
        for base in [b for b in ("default", "popularity", "preset-off") if b in vals]:  # paired: same world, requests
            d = vals["preset"] - vals[base]
            print(f"{'':<10}   preset - {base:<10} (paired by seed) {d.mean():>8.1f} ± {_interval(d):.1f}")
        for r in res:
            if "row_allocation" in r:  # did the row bandit learn an order? top row shares, early vs late pages
                top = {part: sorted(sh.items(), key=lambda kv: -kv[1])[:3]
                       for part, sh in r["row_allocation"]["top_row_share"].items()}
                print(f"{'':<10}   seed {r['seed']} top row (genre: share of pages) early {top['early']} "
                      f"late {top['late']}")
        if name == "delivery":
            for p in vals:
                v = [r["policies"][p] for r in res]
                print(f"{'':<10}   {p:<10} items served breaking a constraint: "
                      f"{sum(sum(x['violations'].values()) for x in v)} of {sum(x['shown'] for x in v)}; "
                      f"sellers with orders {np.mean([x['sellers_with_orders'] for x in v]):.1f}; "
                      f"exposure Gini {np.mean([x['exposure_gini'] for x in v]):.2f}; "
                      f"orders refused (kitchen full) {sum(x['failed_orders'] for x in v)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)


if __name__ == "__main__":
    main()
