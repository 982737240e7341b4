"""DeepFM as the final ranking stage, stacked on the stage before it, against that stage alone.

Each pipeline ends ``... -> base stage -> DeepFM (stack = true)``: DeepFM reads the base
stage's score as a feature and learns a correction on top of it. The base is LightGBM
(LambdaMART) on the synthetic world and the ALS + session-EASE blend of ``movielens.toml``
on MovieLens 100K (columns labelled "LightGBM" below mean that base). The pipeline is fitted
once on the training part of ``random-holdout:0.25`` (seed 42) and scored twice by the
same evaluator: without its last stage (exactly the LightGBM-alone pipeline: the earlier
stages are trained the same way whatever follows them) and with it. The ratio is
(+ DeepFM) / (LightGBM alone) on ndcg@10 after the ranking stages and after the rules.

| dataset | spec |
|---|---|
| MovieLens 100K (all test users) | ``configs/movielens-deepfm.toml`` (= ``movielens.toml`` + the DeepFM stage) |
| synthetic world ``small`` (600 sampled test users) | ``configs/world.toml`` + a DeepFM stage (budget 40) |

Also printed: the DeepFM stage's validation NDCG@10 of its base (LightGBM alone, "epoch 0")
and of the epoch it kept (-1 = none beat the base, the stage then keeps LightGBM's order).

Run from the repository root (needs the ``neural`` extra)::

    nice -n 10 .venv/bin/python benchmarks/deepfm_stage.py            # both datasets (~10 min, 2 cores)
    nice -n 10 .venv/bin/python benchmarks/deepfm_stage.py --quick    # synthetic world only

Datasets are read from ``../shared/data``. Fit seconds on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _shared import write_figures  # benchmarks/_shared.py (the script's folder is on sys.path)

from shortlist.data import load_dataset, split_by_protocol
from shortlist.data.dataset import Dataset
from shortlist.data.world import generate_world
from shortlist.evaluation import evaluate
from shortlist.pipeline import Pipeline, load_spec, parse_spec
from shortlist.pipeline.defaults import CONFIG_DIR

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROTOCOL, SEED, K = "random-holdout:0.25", 42, 10
DEEPFM = {"epochs": 20, "patience": 3, "factors": 8, "hidden": [64, 32], "seed": 0}


class _Upto:
    """The fitted pipeline seen up to ``upto`` (the evaluator's model interface)."""

    def __init__(self, pipeline: Pipeline, upto: str) -> None:
        self.pipeline, self.upto = pipeline, upto

    def recommend_indices(self, users: np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.recommend_indices(users, k, upto=self.upto)


def cases(quick: bool) -> list[tuple[str, Any, Any, int | None]]:
    """(label, dataset loader, stacked spec, test users scored or None for all)."""
    world = load_spec(CONFIG_DIR / "world.toml").model_dump(exclude_unset=True)
    world["stages"].append({"name": "deepfm", "kind": "deepfm", "budget": world["stages"][-1]["budget"],
                            "stack": True, "params": DEEPFM})
    out = [("synthetic small", lambda: generate_world("small").dataset(), parse_spec(world), 600)]
    if not quick:
        movielens = load_spec(CONFIG_DIR / "movielens-deepfm.toml")
        plain = load_spec(CONFIG_DIR / "movielens.toml")
        # everything but the last stage must be the plain spec, or the comparison is unfair
        assert movielens.stages[:-1] == plain.stages and movielens.sources == plain.sources
        out.insert(0, ("MovieLens 100K", lambda: load_dataset(DATA / "ml-100k"), movielens, None))
    return out


def measure(spec: Any, dataset: Dataset, max_users: int | None) -> dict[str, Any]:
    """Fit once; score without and with the last (DeepFM) stage, after ranking and after rules."""
    split = split_by_protocol(dataset.interactions, PROTOCOL, seed=SEED)
    pipe = Pipeline(spec)
    t0 = time.perf_counter()
    pipe.fit(Dataset(dataset.name, split.train, dataset.user_features, dataset.item_features,
                     dataset.social, dataset.info), progress=False)
    fit_s = time.perf_counter() - t0
    stages = pipe.stages_
    out: dict[str, Any] = {"fit_seconds": fit_s}
    for label, used in (("lightgbm", stages[:-1]), ("deepfm", stages)):
        pipe.stages_ = used
        for upto in ("ranking", "rules"):
            res = evaluate(_Upto(pipe, upto), split, k=K, max_users=max_users)
            out[f"{label}/{upto}"] = res.metrics
    pipe.stages_ = stages
    scorer = stages[-1].scorer
    hist = scorer.history_
    out["valid_base"] = scorer.base_valid_
    out["valid_kept"] = hist.valid[hist.best_epoch] if hist.best_epoch >= 0 else scorer.base_valid_
    out["best_epoch"] = hist.best_epoch
    out["epochs_run"] = len(hist.loss)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="synthetic world only")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    rows = []
    print(f"protocol {PROTOCOL}, seed {SEED}, k {K}; ratio = (+ DeepFM) / (base stage alone), ndcg@10")
    print(f"{'dataset':<18}{'after':<9}{'base':>10}{'+ DeepFM':>10}{'ratio':>8}"
          f"{'recall LGB':>12}{'recall +DFM':>13}{'valid base/kept':>18}{'epoch':>7}{'fit s':>8}")
    for label, load, spec, max_users in cases(args.quick):
        r = measure(spec, load(), max_users)
        for upto in ("ranking", "rules"):
            a, b = r[f"lightgbm/{upto}"], r[f"deepfm/{upto}"]
            ratio = b["ndcg@10"] / a["ndcg@10"] if a["ndcg@10"] else float("nan")
            print(f"{label if upto == 'ranking' else '':<18}{upto:<9}{a['ndcg@10']:>10.4f}{b['ndcg@10']:>10.4f}"
                  f"{ratio:>8.3f}{a['recall@10']:>12.4f}{b['recall@10']:>13.4f}"
                  f"{r['valid_base']:>10.4f}/{r['valid_kept']:.4f}{r['best_epoch']:>7}{r['fit_seconds']:>8.0f}")
            rows.append({"dataset": label, "after": upto, "lightgbm_ndcg@10": a["ndcg@10"],
                         "deepfm_ndcg@10": b["ndcg@10"], "ratio": ratio, "lightgbm_recall@10": a["recall@10"],
                         "deepfm_recall@10": b["recall@10"], "valid_base": r["valid_base"],
                         "valid_kept": r["valid_kept"], "best_epoch": r["best_epoch"],
                         "epochs_run": r["epochs_run"], "fit_seconds": r["fit_seconds"]})
    write_figures(args.out, "deepfm_stage", rows)


if __name__ == "__main__":
    main()
