"""Quality and fit time of the neighbourhood models, EASE and trending next to implicit.

Protocol: ``random-holdout:0.25`` with seed 42 (the same split for every model); metrics
ndcg@10 and recall@10 over users with train and test items, training items excluded.
Hyperparameters of every model - Shortlist's and implicit's - are chosen by a small grid
search on a *validation* split carved from the training part only (a further 25 % random
holdout per user, seed 7); the test split is touched once, by the chosen configuration.

Datasets (read from ``../shared/data``): MovieLens 100K ``u.data`` with binary weights,
and Last.fm 2K ``user_artists.dat`` with ``log1p(play count)`` weights (no timestamps, so
no trending there). implicit receives the very same training matrix.

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/knn_ease_quality.py           # full (~5-10 min)
    nice -n 10 .venv/bin/python benchmarks/knn_ease_quality.py --quick   # ml-100k, defaults

``--quick`` skips the grid search (uses the models' defaults and implicit's) and Last.fm.
EASE on Last.fm (17,632 artists: a dense 17,632^2 inverse, ~4 GB, several minutes) runs
only with ``--lastfm-ease``, at its default regularization. Fit seconds on a shared
machine are noisy; rerun for timings you rely on.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shortlist.data import Interactions, random_holdout, split_by_protocol
from shortlist.data.splits import Split
from shortlist.evaluation import evaluate, ranking_metrics
from shortlist.models import Popularity
from shortlist.models.ease import EASE
from shortlist.models.item_knn import ItemKNN
from shortlist.models.trending import DAY, Trending
from shortlist.models.user_knn import UserKNN

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROTOCOL, SEED, K = "random-holdout:0.25", 42, 10
VAL_SEED = 7

GRIDS: dict[str, dict[str, list[Any]]] = {
    "item-knn": {"n_neighbors": [20, 50, 100, 200], "weighting": ["none", "tfidf", "bm25"],
                 "shrink": [0.0, 10.0], "alpha": [0.5]},
    "user-knn": {"n_neighbors": [20, 50, 100, 200], "weighting": ["none", "bm25"],
                 "shrink": [0.0, 10.0]},
    "ease": {"regularization": [50.0, 100.0, 200.0, 300.0, 500.0, 1000.0]},
    "trending": {"half_life": [1 * DAY, 7 * DAY, 30 * DAY, 180 * DAY]},
    "implicit-itemitem": {"K": [20, 50, 100, 200]},
    "implicit-cosine": {"K": [20, 50, 100, 200]},
    "implicit-bm25": {"K": [20, 50, 100, 200], "K1": [1.2, 100.0], "B": [0.75, 0.8]},
}
SHORTLIST = {"item-knn": ItemKNN, "user-knn": UserKNN, "ease": EASE, "trending": Trending,
             "popularity": Popularity}
PEER_OF = {"item-knn": "implicit-bm25", "user-knn": "implicit-cosine", "ease": "implicit-bm25",
           "popularity": "implicit-bm25", "trending": "implicit-bm25"}


def load_ml100k() -> Interactions:
    """MovieLens 100K, binary weights, with timestamps."""
    df = pl.read_csv(DATA / "ml-100k" / "u.data", separator="\t", has_header=False,
                     new_columns=["user_id", "item_id", "rating", "ts"])
    return Interactions.from_frame(df, time="ts", weighting="binary")


def load_lastfm() -> Interactions:
    """Last.fm 2K user-artist play counts, weight = log1p(plays)."""
    df = pl.read_csv(DATA / "lastfm-2k" / "user_artists.dat", separator="\t")
    return Interactions.from_frame(df, user="userID", item="artistID", value="weight",
                                   weighting="log")


class ImplicitModel:
    """implicit's item-item recommenders behind the same fit/evaluate calls."""

    def __init__(self, kind: str, **params: Any) -> None:
        self.kind, self.params = kind, params

    def fit(self, train: Interactions) -> ImplicitModel:
        from implicit.nearest_neighbours import (
            BM25Recommender,
            CosineRecommender,
            ItemItemRecommender,
        )

        cls = {"implicit-itemitem": ItemItemRecommender, "implicit-cosine": CosineRecommender,
               "implicit-bm25": BM25Recommender}[self.kind]
        self.train_ = train.matrix.astype(np.float64).tocsr()
        self.model = cls(**self.params)
        self.model.fit(self.train_, show_progress=False)
        return self

    def evaluate(self, split: Split) -> dict[str, float]:
        test = split.test.matrix
        users = np.flatnonzero(np.diff(test.indptr) > 0)
        users = users[np.diff(self.train_.indptr)[users] > 0]
        ids, _ = self.model.recommend(users, self.train_[users], N=K,
                                      filter_already_liked_items=True)
        top = np.where(np.asarray(ids) >= 0, ids, -1).astype(np.int64)
        per = ranking_metrics(top, test[users], K)
        return {f"ndcg@{K}": float(np.nanmean(per["ndcg"])),
                f"recall@{K}": float(np.nanmean(per["recall"]))}


def make(name: str, params: dict[str, Any]) -> Any:
    if name.startswith("implicit"):
        return ImplicitModel(name, **params)
    return SHORTLIST[name](**params)


def fit_eval(name: str, params: dict[str, Any], split: Split) -> tuple[dict[str, float], float]:
    """Metrics of ``name(**params)`` fitted on ``split.train``, and its fit seconds."""
    model = make(name, params)
    t0 = time.perf_counter()
    if isinstance(model, ImplicitModel):
        model.fit(split.train)
        fit_s = time.perf_counter() - t0
        return model.evaluate(split), fit_s
    model.fit(split.train, progress=False)
    fit_s = time.perf_counter() - t0
    res = evaluate(model, split, k=K)
    return {f"ndcg@{K}": res[f"ndcg@{K}"], f"recall@{K}": res[f"recall@{K}"]}, fit_s


def tune(name: str, split: Split, log: Callable[[str], None]) -> dict[str, Any]:
    """Best params of ``name`` by validation ndcg@10 on a holdout carved from ``split.train``."""
    grid = GRIDS.get(name)
    if not grid:
        return {}
    val = random_holdout(split.train, 0.25, seed=VAL_SEED)
    best, best_score = {}, -1.0
    for combo in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), combo))
        metrics, _ = fit_eval(name, params, val)
        score = metrics[f"ndcg@{K}"]
        if score > best_score:
            best, best_score = params, score
    log(f"  tuned {name:18s} val ndcg@10={best_score:.4f}  {best}")
    return best


def run(dataset: str, data: Interactions, names: list[str], quick: bool,
        log: Callable[[str], None]) -> list[tuple[str, str, dict[str, float], float, dict]]:
    split = split_by_protocol(data, PROTOCOL, seed=SEED)
    rows = []
    for name in names:
        params = {} if quick else tune(name, split, log)
        metrics, fit_s = fit_eval(name, params, split)
        rows.append((dataset, name, metrics, fit_s, params))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="ml-100k only, default hyperparameters")
    ap.add_argument("--lastfm-ease", action="store_true",
                    help="also fit EASE on Last.fm (17,632 items: ~4 GB, minutes; default λ, no grid)")
    args = ap.parse_args()
    # implicit converts its own bm25/tfidf output from COO and warns about it
    warnings.filterwarnings("ignore", message="Method expects CSR input")
    ours = ["item-knn", "user-knn", "ease", "popularity"]
    peers = ["implicit-itemitem", "implicit-cosine", "implicit-bm25"]
    rows = run("ml-100k", load_ml100k(), ours + ["trending"] + peers, args.quick, print)
    if not args.quick:
        lastfm = load_lastfm()
        names = [n for n in ours if n != "ease"] + peers
        rows += run("lastfm-2k", lastfm, names, args.quick, print)
        if args.lastfm_ease:
            rows += run("lastfm-2k", lastfm, ["ease"], True, print)
    print()
    print(f"{'dataset':10s} {'model':18s} {'ndcg@10':>8s} {'recall@10':>9s} {'fit s':>7s} "
          f"{'ndcg ratio':>10s}  params")
    for dataset, name, m, fit_s, params in rows:
        peer = PEER_OF.get(name)
        ref = next((r[2] for r in rows if r[0] == dataset and r[1] == peer), None)
        ratio = f"{m['ndcg@10'] / ref['ndcg@10']:.3f}" if ref else "-"
        shown = {k: (v / DAY if k == "half_life" else v) for k, v in params.items()}
        print(f"{dataset:10s} {name:18s} {m['ndcg@10']:8.4f} {m['recall@10']:9.4f} {fit_s:7.2f} "
              f"{ratio:>10s}  {shown}")
    print("\nndcg ratio: vs implicit BM25Recommender (user-knn: vs CosineRecommender); "
          "trending half_life shown in days")


if __name__ == "__main__":
    main()
