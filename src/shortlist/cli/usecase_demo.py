"""``shortlist demo --use-case NAME``: one product's preset vs the default pipeline and popularity."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

__all__ = ["run_usecase"]


def run_usecase(args: argparse.Namespace) -> int:
    """Train the product's spec, the default pipeline and popularity; serve the same traffic; print and plot."""
    from shortlist.pipeline.usecases import compare_usecase, plot_comparison, usecase_config_path

    name = args.use_case
    started = time.perf_counter()
    spec = usecase_config_path(name)
    print(f"== use case '{name}': spec {spec.name}, world preset '{name}' ({args.use_case_size}, seed {args.seed})")
    print(f"training the preset, the default pipeline (tuning budget {args.budget}) and popularity; "
          f"then {args.requests} simulated requests to each ...", flush=True)
    res = compare_usecase(name, seed=args.seed, size=args.use_case_size, requests=args.requests,
                          budget=args.budget, spec_path=spec, ablate=False)  # the ablation: benchmarks/usecases.py
    print(f"{res['world']}; trained in {res['fit_seconds']} s")
    print(f"\n{res['metric']} per 100 requests (95% interval over requests)")
    print(f"{'policy':<12} {'metric':>9} {'± 95%':>7} {'items shown':>12} {'creators shown':>15}")
    for pname, p in res["policies"].items():
        print(f"{pname:<12} {p['per_100']:>9.2f} {p['ci95_per_100']:>7.2f} {p['shown']:>12} {p['creators_shown']:>15}")
    if name == "delivery":
        print("\nhard constraints (items served outside the radius / closed / above budget), orders refused "
              "by a full kitchen, sellers with orders, exposure Gini:")
        for pname, p in res["policies"].items():
            v = p["violations"]
            print(f"{pname:<12} {v['outside-radius']:>5} / {v['closed']:>4} / {v['over-budget']:>4}   refused "
                  f"{p['failed_orders']:>3}   sellers {p['sellers_with_orders']:>3}   Gini {p['exposure_gini']:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"usecase-{name}.json").write_text(json.dumps(res, indent=1))
    plot = plot_comparison(res, out / f"usecase-{name}.png")
    print(f"\nresult -> {out / f'usecase-{name}.json'}   plot -> "
          f"{plot if plot else 'skipped (matplotlib is not installed)'}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
