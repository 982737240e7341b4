"""Synthetic world generation speed and memory, preset by preset.

There is no peer library that generates this kind of world, so the table states the target
instead: 10 million interactions in under 60 seconds on a 2-core machine. Each case runs in
a fresh subprocess (after a tiny warm-up world, so numba compilation is not timed) and
reports its own peak resident memory.

Run:
    nice -n 10 .venv/bin/python benchmarks/world_generation.py            # tiny..medium + 10M
    nice -n 10 .venv/bin/python benchmarks/world_generation.py --quick    # tiny + small
    nice -n 10 .venv/bin/python benchmarks/world_generation.py --cases 10M --large
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TARGET_SECONDS_10M = 60.0
CASES = {
    "tiny": ("tiny", {}),
    "small": ("small", {}),
    "medium": ("medium", {}),
    # the large preset's population with exactly 10M interactions: the stated target
    "10M": ("large", {"n_interactions": 10_000_000}),
    "large": ("large", {}),
}


def run_case(name: str) -> dict:
    """Generate one case in this process and measure it."""
    from shortlist.data.world import WorldConfig, generate_world

    generate_world("tiny")  # load/compile the kernels outside the timing
    preset, overrides = CASES[name]
    cfg = WorldConfig.preset(preset, **overrides)
    t0, c0 = time.perf_counter(), time.process_time()
    world = generate_world(cfg, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    world.dataset()
    dataset_seconds = time.perf_counter() - t1
    return {
        "case": name, "users": cfg.n_users, "items": cfg.n_items,
        "interactions": len(world.events), "impressions": len(world.impressions),
        "follows": int(world.follows.nnz), "seconds": seconds, "cpu_seconds": cpu, "dataset_seconds": dataset_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny and small only")
    parser.add_argument("--large", action="store_true", help="also the large preset (15M)")
    parser.add_argument("--cases", nargs="*", choices=list(CASES), help="explicit list of cases")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    names = args.cases or (["tiny", "small"] if args.quick else ["tiny", "small", "medium", "10M"])
    if args.large and "large" not in names:
        names.append("large")
    header = (f"{'case':<8}{'users':>10}{'items':>9}{'interactions':>14}{'seconds':>9}{'cpu s':>8}"
              f"{'inter/s':>12}{'dataset s':>11}{'peak MB':>9}{'target s':>10}{'ratio':>7}")
    print(header)
    print("-" * len(header))
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        # the 60 s budget for 10M scales linearly to other sizes
        target = TARGET_SECONDS_10M * r["interactions"] / 10_000_000
        print(f"{r['case']:<8}{r['users']:>10,}{r['items']:>9,}{r['interactions']:>14,}"
              f"{r['seconds']:>9.2f}{r['cpu_seconds']:>8.1f}{r['interactions'] / r['seconds']:>12,.0f}"
              f"{r['dataset_seconds']:>11.2f}{r['peak_rss_mb']:>9.0f}{target:>10.2f}"
              f"{r['seconds'] / target:>7.2f}", flush=True)
    print("\ntarget: 10M interactions in < 60 s on 2 cores (scaled linearly for other sizes); "
          "ratio = seconds / target (< 1 is better).\ncpu s = CPU time of all threads: on a busy "
          "shared machine wall seconds are inflated, CPU seconds much less so.")


if __name__ == "__main__":
    main()
