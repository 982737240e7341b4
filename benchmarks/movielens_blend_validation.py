"""How the MovieLens blend weights were chosen: validation splits of the training part only.

``configs/movielens.toml`` ranks with a linear blend of z-scored model scores. Its weights and
the graph filter's sharpening must be chosen without the test split of the quality target
(MovieLens 100K, ``random-holdout:0.25``, seed 42). This script redoes the choice with fixed
blends (the shipped stage then searches the graph filter's weight again on its own label
folds, and keeps 0.6 on MovieLens 100K too):

1. split MovieLens 100K with the target's protocol and keep only the training part;
2. re-split that part with ``random-holdout:0.2`` and seeds 7, 8 and 9 (validation splits);
3. fit and score every blend of the grid below on each validation split (``evaluate_pipeline``,
   the same code path as the target) and take the best mean validation ndcg@10;
4. only then, with ``--test``, fit the chosen blend on the whole training part and score the
   test split once, next to the previous blend (ALS + session EASE, the peer).

Grid: the graph filter's ``sharpen`` {0, 0.5, 1} x its blend weight {0.25, 0.4, 0.6}, on top
of ALS (1.0) + session EASE (0.75); the previous blend is the peer row. Differences between
neighbouring grid points are of the order of the validation noise (about +-0.001 for a mean
of three splits), so the table shows every row, not just the winner.

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/movielens_blend_validation.py --test   # ~10 min
    nice -n 10 .venv/bin/python benchmarks/movielens_blend_validation.py --quick  # 1 seed, 4 rows (~2 min)

Datasets are read from ``../shared/data``.
"""

from __future__ import annotations

import argparse
import copy
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from _shared import write_figures  # benchmarks/_shared.py (the script's folder is on sys.path)

from shortlist.data import load_dataset, split_by_protocol
from shortlist.data.dataset import Dataset
from shortlist.pipeline import Pipeline, evaluate_pipeline
from shortlist.pipeline.defaults import CONFIG_DIR

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROTOCOL, SEED, K = "random-holdout:0.25", 42, 10
VALIDATION, VALIDATION_SEEDS = "random-holdout:0.2", (7, 8, 9)
SHARPEN, WEIGHTS = (0.0, 0.5, 1.0), (0.25, 0.4, 0.6)


def blend_spec(base: dict[str, Any], sharpen: float | None, weight: float) -> dict[str, Any]:
    """The MovieLens spec with the graph filter at (sharpen, weight), or without it (None)."""
    spec = copy.deepcopy(base)
    params = spec["stages"][0]["params"]
    params.pop("search", None)  # each grid point is a fixed blend here
    weights = params["weights"]
    if sharpen is None:
        spec["models"].pop("gf")
        spec["features"]["scorers"] = [s for s in spec["features"]["scorers"] if s != "gf"]
        weights.pop("model_gf_z", None)
    else:
        spec["models"]["gf"]["params"] = {"sharpen": sharpen}
        weights["model_gf_z"] = weight
    return spec


def ranked_ndcg(spec: dict[str, Any], data: Dataset, protocol: str, seed: int) -> float:
    """ndcg@10 after the ranking stage of ``spec`` fitted on ``protocol``'s training part."""
    res = evaluate_pipeline(Pipeline(spec), data, protocol, seed=seed, k=K, stages=("ranking",), progress=False)
    return float(res["ranking"].metrics["ndcg@10"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="seed 7 only, sharpen 1.0 only")
    ap.add_argument("--test", action="store_true", help="then score the chosen blend on the test split")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()

    base = tomllib.loads((CONFIG_DIR / "movielens.toml").read_text())
    full = load_dataset(DATA / "ml-100k")
    outer = split_by_protocol(full.interactions, PROTOCOL, seed=SEED)
    train_part = Dataset(full.name, outer.train, full.user_features, full.item_features, full.social, full.info)
    seeds = VALIDATION_SEEDS[:1] if args.quick else VALIDATION_SEEDS
    grid: list[tuple[float | None, float]] = [(None, 0.0)]
    grid += [(s, w) for s in ((1.0,) if args.quick else SHARPEN) for w in WEIGHTS]

    rows = []
    for sharpen, weight in grid:
        t0 = time.perf_counter()
        scores = [ranked_ndcg(blend_spec(base, sharpen, weight), train_part, VALIDATION, sd) for sd in seeds]
        name = "ALS + 0.75 session EASE (peer)" if sharpen is None else f"+ {weight} graph filter, sharpen {sharpen}"
        rows.append({"blend": name, "sharpen": sharpen, "weight": weight, "validation": scores,
                     "mean": float(np.mean(scores)), "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{name:38s} " + " ".join(f"{x:.4f}" for x in scores) + f"  mean {rows[-1]['mean']:.4f}", flush=True)

    best = max(rows[1:], key=lambda r: r["mean"])
    peer = rows[0]
    print(f"\nvalidation ndcg@10 ({VALIDATION} of the training part, seeds {', '.join(map(str, seeds))})\n")
    print(f"| blend | {' | '.join(f'seed {s}' for s in seeds)} | mean | ratio to peer |")
    print("|---|" + "---:|" * (len(seeds) + 2))
    for r in rows:
        mark = " (chosen)" if r is best else ""
        print(f"| {r['blend']}{mark} | " + " | ".join(f"{x:.4f}" for x in r["validation"])
              + f" | {r['mean']:.4f} | {r['mean'] / peer['mean']:.4f} |")
    figures: dict[str, Any] = {"validation": rows, "chosen": {"sharpen": best["sharpen"], "weight": best["weight"]}}

    if args.test:
        chosen = ranked_ndcg(blend_spec(base, best["sharpen"], best["weight"]), full, PROTOCOL, SEED)
        previous = ranked_ndcg(blend_spec(base, None, 0.0), full, PROTOCOL, SEED)
        print(f"\ntest ndcg@10 ({PROTOCOL}, seed {SEED}): chosen blend {chosen:.4f}, peer {previous:.4f}, "
              f"ratio {chosen / previous:.4f} (target >= 0.50)")
        figures["test"] = {"chosen": chosen, "peer": previous}
    write_figures(args.out, "movielens_blend_validation", figures)


if __name__ == "__main__":
    main()
