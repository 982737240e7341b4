"""Shortlist SGD matrix factorization vs LightFM (bpr, warp) and implicit (bpr) on MovieLens 100K.

Measures train seconds per epoch and ndcg@10 under the project protocol (binary ml-100k,
``random-holdout:0.25``, seed 42, training items excluded), with the same factors, epochs,
learning rate and threads for every library, and prints a table with the ratios; the
``mse`` and ``logistic`` losses get Shortlist-only rows.

    python benchmarks/sgd_vs_lightfm.py            # full run (~2.5 min on 2 busy cores)
    python benchmarks/sgd_vs_lightfm.py --quick    # 32 factors, 10 epochs
    python benchmarks/sgd_vs_lightfm.py --tune     # hyperparameter search, then the table

``--tune`` chooses Shortlist's hyperparameters on a validation split carved out of the
*training* part only (the test split is never looked at): each configuration trains with
``validation_fraction=0.2`` (early stopping, patience 5) and the best validation ndcg@10
wins; its ``best_epoch_`` becomes ``epochs``. Peers: ``pip install setuptools wheel cython``
then ``pip install --no-build-isolation lightfm``; ``implicit`` is optional too.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import polars as pl

from shortlist.data import Interactions
from shortlist.data.splits import split_by_protocol
from shortlist.evaluation import evaluate
from shortlist.models import FactorModel
from shortlist.models.sgd_mf import SGDMF

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k" / "u.data"


def load(path: Path) -> Interactions:
    """ml-100k ratings as binary implicit feedback."""
    frame = pl.read_csv(path, separator="\t", has_header=False,
                        new_columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions.from_frame(frame, weighting="binary")


class Frozen(FactorModel):
    """Peer factors wrapped in a FactorModel so every library is evaluated by the same code."""

    def __init__(self, *, label: str = "peer") -> None:
        self.label = label

    @classmethod
    def of(cls, label, train, users, items, U, V, bias=None):
        m = cls(label=label)
        m.users_, m.items_, m.train_ = users, items, train
        if bias is not None:
            U = np.hstack([U, np.ones((U.shape[0], 1))])
            V = np.hstack([V, bias[:, None]])
        m.user_factors_, m.item_factors_ = U.astype(np.float32), V.astype(np.float32)
        return m


GRIDS = {  # full search; --quick keeps the first value of each list
    "bpr": {"learning_rate": [0.02, 0.05, 0.1], "user_regularization": [0.0, 1e-5, 1e-4],
            "use_bias": [True, False]},
    "warp": {"learning_rate": [0.02, 0.05, 0.1], "user_regularization": [0.0, 1e-5, 1e-4],
             "use_bias": [True, False]},
    "mse": {"learning_rate": [0.05, 0.02], "w0": [0.05, 0.2, 0.5, 1.0]},
    "logistic": {"learning_rate": [0.05, 0.02], "negatives": [4, 8]},
}


def tune(train: Interactions, losses: list[str], quick: bool, threads: int) -> dict[str, dict]:
    """Best params per loss by validation ndcg@10 on a split of ``train`` (never the test)."""
    chosen = {}
    for loss in losses:
        grid = {k: v[:1] if quick else v for k, v in GRIDS[loss].items()}
        best = (-1.0, None)
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values))
            if "user_regularization" in params:
                params["item_regularization"] = params["user_regularization"]
            m = SGDMF(loss=loss, factors=64, epochs=100, validation_fraction=0.2, patience=5,
                      random_state=0, num_threads=threads, **params).fit(train)
            score = max(m.history_)
            print(f"{loss:8s} {params} best_epoch={m.best_epoch_} val_ndcg@10={score:.4f}", flush=True)
            if score > best[0]:
                best = (score, dict(params, epochs=m.best_epoch_))
        chosen[loss] = best[1]
        print(f"chosen for {loss}: {best[1]} (validation ndcg@10 {best[0]:.4f})", flush=True)
    return chosen


def run_shortlist(loss, params, split, threads):
    model = SGDMF(loss=loss, factors=params["factors"], random_state=0, num_threads=threads,
                  **{k: v for k, v in params.items() if k != "factors"})
    model.fit(split.train)
    per_epoch = float(np.median(model.epoch_seconds_))
    return per_epoch, evaluate(model, split, k=10)["ndcg@10"]


def run_lightfm(loss, params, split, threads):
    from lightfm import LightFM

    m = LightFM(no_components=params["factors"], loss=loss, learning_rate=params["learning_rate"],
                learning_schedule="adagrad", user_alpha=params["user_regularization"],
                item_alpha=params["item_regularization"], max_sampled=100, random_state=0)
    times = []
    x = split.train.matrix.tocoo()
    for _ in range(params["epochs"]):
        t0 = time.perf_counter()
        m.fit_partial(x, epochs=1, num_threads=threads)
        times.append(time.perf_counter() - t0)
    model = Frozen.of(f"lightfm-{loss}", split.train.matrix, split.train.users, split.train.items,
                      m.user_embeddings, m.item_embeddings, m.item_biases)
    return float(np.median(times)), evaluate(model, split, k=10)["ndcg@10"]


def run_implicit_bpr(params, split, threads):
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    m = BayesianPersonalizedRanking(factors=params["factors"], iterations=params["epochs"],
                                    num_threads=threads, random_state=0)
    t0 = time.perf_counter()
    m.fit(split.train.matrix, show_progress=False)
    per_epoch = (time.perf_counter() - t0) / params["epochs"]
    model = Frozen.of("implicit-bpr", split.train.matrix, split.train.users, split.train.items,
                      np.asarray(m.user_factors), np.asarray(m.item_factors))
    return per_epoch, evaluate(model, split, k=10)["ndcg@10"]


# values chosen by --tune on the training part (see docs/sgd_mf.md); epochs from early stopping
DEFAULTS = {
    "bpr": {"learning_rate": 0.05, "user_regularization": 1e-4, "item_regularization": 1e-4,
            "use_bias": False, "epochs": 38},
    "warp": {"learning_rate": 0.02, "user_regularization": 0.0, "item_regularization": 0.0,
             "use_bias": False, "epochs": 56},
    "mse": {"learning_rate": 0.02, "w0": 0.5, "epochs": 20},
    "logistic": {"learning_rate": 0.05, "negatives": 8, "epochs": 13},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="32 factors, 10 epochs, tiny search")
    ap.add_argument("--tune", action="store_true", help="choose hyperparameters on a train-only split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--losses", default="bpr,warp,mse,logistic", help="comma-separated losses to run")
    ap.add_argument("--data", type=Path, default=DATA, help="path of ml-100k u.data")
    args = ap.parse_args()

    data = load(args.data)
    split = split_by_protocol(data, "random-holdout:0.25", seed=42)
    factors = 32 if args.quick else 64
    losses = args.losses.split(",")
    chosen = tune(split.train, losses, args.quick, args.threads) if args.tune else DEFAULTS
    rows = []
    for loss in losses:
        params = dict(chosen[loss], factors=factors)
        if args.quick:
            params["epochs"] = min(params["epochs"], 10)
        run_shortlist(loss, dict(params, epochs=1), split, args.threads)  # warm the JIT cache
        sec, ndcg = run_shortlist(loss, params, split, args.threads)
        if loss not in ("bpr", "warp"):  # LightFM's logistic loss needs explicit negatives
            rows.append((f"{loss} (epochs={params['epochs']})", sec, ndcg, "-", np.nan, np.nan))
            continue
        try:
            peer_sec, peer_ndcg = run_lightfm(loss, params, split, args.threads)
        except ImportError:
            peer_sec, peer_ndcg = float("nan"), float("nan")
        rows.append((f"{loss} (epochs={params['epochs']})", sec, ndcg, "lightfm", peer_sec, peer_ndcg))
        if loss == "bpr":
            try:
                isec, indcg = run_implicit_bpr(params, split, args.threads)
                rows.append((f"{loss} (epochs={params['epochs']})", sec, ndcg, "implicit", isec, indcg))
            except ImportError:
                pass
    print(f"\nml-100k binary, random-holdout:0.25 seed 42, factors={factors}, threads={args.threads}")
    print(f"{'model':20s} {'s/epoch':>8s} {'ndcg@10':>8s} | {'peer':8s} {'s/epoch':>8s} {'ndcg@10':>8s}"
          f" | {'speedup':>7s} {'ndcg ratio':>10s}")
    for name, sec, ndcg, peer, psec, pndcg in rows:
        print(f"{name:20s} {sec:8.3f} {ndcg:8.4f} | {peer:8s} {psec:8.3f} {pndcg:8.4f} | "
              f"{psec / sec:7.2f} {ndcg / pndcg:10.3f}")


if __name__ == "__main__":
    main()
