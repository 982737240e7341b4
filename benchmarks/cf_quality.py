"""Quality of every collaborative-filtering model on MovieLens 100K and Last.fm 2K, with peers.

Protocol (the project's): ``random-holdout:0.25``, seed 42, k = 10, training items excluded,
full ranking over all items. Shortlist's models run with their defaults, which were chosen on
validation splits carved from MovieLens 100K's *training* part (docs/als.md, docs/sgd_mf.md,
docs/neighbourhood.md); ``--tune`` instead runs ``shortlist.evaluation.tuning.tune`` (random
search on an inner validation split of each dataset's training part) before the one test
evaluation. Peers from ``implicit`` (ALS, BM25 item-kNN) get the same training matrix and
their own defaults (factors 64, 15 iterations for ALS). Last.fm uses log(1 + plays) weights;
EASE is skipped there (17,632 items: see docs/neighbourhood.md).

    .venv/bin/python benchmarks/cf_quality.py            # both datasets (~5 min on 2 cores)
    .venv/bin/python benchmarks/cf_quality.py --quick    # MovieLens 100K only
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from shortlist.data import load_dataset, random_holdout
from shortlist.evaluation import evaluate
from shortlist.evaluation.tuning import tune
from shortlist.models import FactorModel, Recommender, create_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELS = ("popularity", "item-knn", "user-knn", "ease", "als", "bpr", "warp")


def _implicit_peers(train) -> dict[str, Recommender]:
    """implicit's ALS and BM25 item-kNN wrapped so the same evaluation code scores them."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.nearest_neighbours import BM25Recommender
    except ImportError:
        return {}
    from threadpoolctl import threadpool_limits

    out: dict[str, Recommender] = {}
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=64, iterations=15, random_state=0)
        als.fit(train.matrix, show_progress=False)
    wrapped = FactorModel()
    wrapped.users_, wrapped.items_, wrapped.train_ = train.users, train.items, train.matrix
    wrapped.user_factors_ = np.asarray(als.user_factors, np.float32)
    wrapped.item_factors_ = np.asarray(als.item_factors, np.float32)
    out["implicit ALS"] = wrapped
    knn = BM25Recommender(K=200)
    knn.fit(train.matrix, show_progress=False)
    sim = knn.similarity.tocsr().astype(np.float32)

    class _Sim(Recommender):
        def _score_block(self, user_idx, item_idx):
            s = np.asarray((self.train_[user_idx] @ sim).todense(), np.float32)
            return s if item_idx is None else s[:, item_idx]

    peer = _Sim()
    peer.users_, peer.items_, peer.train_ = train.users, train.items, train.matrix
    out["implicit BM25"] = peer
    return out


def run_dataset(name: str, do_tune: bool) -> list[tuple]:
    data = load_dataset(DATA / name).interactions
    split = random_holdout(data, 0.25, seed=42)
    rows = []
    for model_name in MODELS:
        if model_name == "ease" and data.n_items > 10_000:
            continue
        params = tune(model_name, split.train, n_trials=8, seed=42, progress=False).best_params if do_tune else {}
        t0 = time.perf_counter()
        model = create_model(model_name, params).fit(split.train, progress=False)
        fit_s = time.perf_counter() - t0
        m = evaluate(model, split, k=10).metrics
        rows.append((name, model_name, m["ndcg@10"], m["recall@10"], fit_s))
    for peer_name, peer in _implicit_peers(split.train).items():
        m = evaluate(peer, split, k=10).metrics
        rows.append((name, peer_name, m["ndcg@10"], m["recall@10"], float("nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MovieLens 100K only")
    parser.add_argument("--tune", action="store_true", help="tune each model on an inner validation split first")
    args = parser.parse_args()
    names = ["ml-100k"] if args.quick else ["ml-100k", "lastfm-2k"]
    print(f"{'dataset':<10} {'model':<14} {'ndcg@10':>8} {'recall@10':>10} {'fit s':>7} {'vs best peer':>13}")
    for name in names:
        rows = run_dataset(name, args.tune)
        peers = [r[2] for r in rows if r[1].startswith("implicit")]
        best_peer = max(peers) if peers else float("nan")
        for ds, model, ndcg, rec, fit_s in rows:
            print(f"{ds:<10} {model:<14} {ndcg:>8.4f} {rec:>10.4f} {fit_s:>7.2f} {ndcg / best_peer:>13.3f}")


if __name__ == "__main__":
    main()
