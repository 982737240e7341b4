"""What each pipeline stage adds: candidates only / + ranker / + rules, next to the best single model.

For every dataset, ``evaluate_pipeline`` fits the pipeline on the training part of
``random-holdout:0.25`` (seed 42) and scores the top 10 after each stage: the merged
candidate order, after the ranking stages, after the business rules. Metrics: ndcg@10,
recall@10 and catalog coverage (share of the catalog recommended to anyone). The peer is
the best single model on that dataset, fitted on the very same training split and scored
by the same evaluator in the same run, with the ratio pipeline / peer.

| dataset | spec | peer |
|---|---|---|
| MovieLens 100K | ``configs/movielens.toml`` | EASE |
| MovieLens latest-small | ``configs/movielens.toml`` | EASE |
| Last.fm 2K (no timestamps; friends graph) | ``LASTFM_SPEC`` below (item-kNN, ALS, social, popular) | item-kNN |
| synthetic world ``small`` | ``configs/world.toml`` | EASE |

No hyperparameter is chosen on the test split: the models use their defaults or the spec's
fixed values, and the rankers train on a label split carved from the training part
(``[training]`` in each spec; that is how ``Pipeline.fit`` works).

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/pipeline_quality.py            # four datasets (~10 min)
    nice -n 10 .venv/bin/python benchmarks/pipeline_quality.py --quick    # MovieLens 100K only

Datasets are read from ``../shared/data``. Fit seconds on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _shared import write_figures  # benchmarks/_shared.py (the script's folder is on sys.path)

from shortlist.data import load_dataset, split_by_protocol
from shortlist.data.dataset import Dataset
from shortlist.data.world import generate_world
from shortlist.evaluation import evaluate
from shortlist.models.registry import create_model
from shortlist.pipeline import Pipeline, evaluate_pipeline, load_spec, parse_spec
from shortlist.pipeline.defaults import CONFIG_DIR

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROTOCOL, SEED, K = "random-holdout:0.25", 42, 10
METRICS = ("ndcg@10", "recall@10", "coverage")

#: Last.fm 2K: play counts without timestamps, artist tags and a symmetric friends graph.
LASTFM_SPEC: dict[str, Any] = {
    "name": "lastfm",
    "k": 10,
    "models": {
        "itemknn": {"kind": "item-knn"},
        "als": {"kind": "als"},
        "pop": {"kind": "popularity"},
    },
    "sources": [
        {"name": "itemknn", "kind": "model", "model": "itemknn", "quota": 150},
        {"name": "als", "kind": "embedding", "model": "als", "quota": 100},
        {"name": "friends", "kind": "social", "quota": 50, "weight": 0.5},
        {"name": "popular", "kind": "model", "model": "pop", "quota": 50},
    ],
    "features": {"scorers": ["itemknn", "als"], "bag_columns": ["tags"]},
    "stages": [{"name": "ranker", "kind": "lightgbm", "budget": 50,
                "params": {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
                           "min_data_in_leaf": 50}}],
    "training": {"label_fraction": 0.25, "max_users": 2000, "seed": 7},
    "rules": [{"kind": "exclude_seen"}],
}


def cases(quick: bool) -> list[tuple[str, Any, Any, str]]:
    """(label, dataset loader, spec, peer model kind)."""
    movielens = load_spec(CONFIG_DIR / "movielens.toml")
    out = [("MovieLens 100K", lambda: load_dataset(DATA / "ml-100k"), movielens, "ease")]
    if not quick:
        out += [
            ("Last.fm 2K", lambda: load_dataset(DATA / "lastfm-2k"), parse_spec(LASTFM_SPEC), "item-knn"),
            ("MovieLens latest-small", lambda: load_dataset(DATA / "ml-latest-small"), movielens, "ease"),
            ("synthetic small", lambda: generate_world("small").dataset(),
             load_spec(CONFIG_DIR / "world.toml"), "ease"),
        ]
    return out


def peer_result(kind: str, dataset: Dataset) -> tuple[dict[str, float], float]:
    """The single model on the same split as the pipeline, by the same evaluator."""
    split = split_by_protocol(dataset.interactions, PROTOCOL, seed=SEED)
    t0 = time.perf_counter()
    model = create_model(kind, {}).fit(split.train, progress=False)
    fit_s = time.perf_counter() - t0
    return evaluate(model, split, k=K).metrics, fit_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="MovieLens 100K only")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    rows = []
    print(f"protocol {PROTOCOL}, seed {SEED}, k {K}; ratio = pipeline / peer")
    header = f"{'dataset':<24}{'stage':<18}" + "".join(f"{m:>11}" for m in METRICS) + f"{'ndcg ratio':>12}{'fit s':>8}"
    print(header)
    for label, load, spec, peer_kind in cases(args.quick):
        dataset = load()
        res = evaluate_pipeline(Pipeline(spec), dataset, PROTOCOL, seed=SEED, k=K, progress=False)
        peer, peer_fit = peer_result(peer_kind, dataset)
        lines = [(f"pipeline: {upto}" if upto == "candidates" else f"+ {upto}", r.metrics,
                  r.info["fit_seconds"]) for upto, r in res.items()]
        lines.append((f"peer: {peer_kind}", peer, round(peer_fit, 2)))
        for i, (stage, metrics, fit_s) in enumerate(lines):
            ratio = metrics["ndcg@10"] / peer["ndcg@10"] if peer["ndcg@10"] else float("nan")
            print(f"{label if i == 0 else '':<24}{stage:<18}" + "".join(f"{metrics[m]:>11.4f}" for m in METRICS)
                  + f"{ratio:>12.3f}{fit_s:>8.1f}")
            rows.append({"dataset": label, "stage": stage, **{m: metrics[m] for m in METRICS},
                         "ndcg_ratio": ratio, "fit_seconds": fit_s})
    write_figures(args.out, "pipeline_quality", rows)


if __name__ == "__main__":
    main()
