"""Neural models on MovieLens 100K: accuracy next to EASE/ALS, cold-start items, throughput.

Run from the repository root (the dataset sits in ../shared/data/ml-100k)::

    nice -n 10 .venv/bin/python benchmarks/neural_models.py            # full, < 10 min on 2 cores
    nice -n 10 .venv/bin/python benchmarks/neural_models.py --quick    # fewer epochs, ~2 min

Three tables:

1. ``random-holdout:0.25`` (seed 42), NDCG@10 and recall@10 of NeuMF, softmax DNN,
   two-tower, FM and DeepFM (user demographics + genres/year as features) next to EASE and
   ALS measured in the same run, with the ratio to EASE;
2. cold-start items: 10% of the items are held out entirely (seed 42); every model ranks
   only those items for the users who rated them. The two-tower item tower embeds them
   from genres + year; baselines are the same model's item vectors replaced by the mean
   vector of warm items with the same genre combination (``FactorModel.fill_cold_items``),
   and "group popularity" (mean training popularity of warm items with that genre
   combination). Metric: recall@20 within the cold items;
3. training throughput (examples/s) and seconds per epoch of each neural model.

Timings on a shared machine are noisy; rerun the command to check them. ``--threads``
sets torch's intra-op threads (default 2); on a loaded machine 1 thread is steadier.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from shortlist.core.metrics import ranking_metrics
from shortlist.data import Dataset, load_dataset
from shortlist.data.splits import split_by_protocol
from shortlist.evaluation.runner import evaluate
from shortlist.models import EASE
from shortlist.neural import FM, DeepFM, NeuMF, SoftmaxDNN, TwoTower

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k"


DEVICE = "cpu"


def neural_models(epochs: int, quick: bool) -> dict:
    common = {"epochs": epochs, "patience": 3, "seed": 0, "device": DEVICE}
    return {
        "NeuMF": NeuMF(**common, factors=32, hidden=[64, 32, 16], learning_rate=0.002),
        "SoftmaxDNN": SoftmaxDNN(**common, hidden=[256, 64], learning_rate=0.002),
        "TwoTower": TwoTower(**common, learning_rate=0.003),
        **({} if quick else {"FM": FM(**common), "DeepFM": DeepFM(**common)}),
    }


def try_als():
    try:
        from shortlist.models.als import ALS
    except Exception as exc:  # noqa: BLE001 - a peer model still being finished must not break the run
        print(f"(ALS skipped: {type(exc).__name__}: {exc})")
        return None
    return ALS()


def accuracy(dataset, epochs: int, quick: bool) -> list[dict]:
    split = split_by_protocol(dataset.interactions, "random-holdout:0.25", seed=42)
    rows = []
    baselines = {"EASE": EASE()}
    als = try_als()
    if als is not None:
        baselines["ALS"] = als
    for name, model in {**baselines, **neural_models(epochs, quick)}.items():
        t0 = time.perf_counter()
        if hasattr(model, "uses_features"):
            model.fit(split.train, user_features=dataset.user_features, item_features=dataset.item_features,
                      progress=False)
        else:
            model.fit(split.train, progress=False)
        fit_s = time.perf_counter() - t0
        m = evaluate(model, split, k=10).metrics
        hist = getattr(model, "history_", None)
        rows.append({"model": name, "ndcg@10": m["ndcg@10"], "recall@10": m["recall@10"], "fit_s": fit_s,
                     "epochs": len(hist.loss) if hist else None,
                     "best_epoch": hist.best_epoch + 1 if hist else None,
                     "s/epoch": float(np.mean(hist.seconds)) if hist else None,
                     "ex/s": hist.examples_per_second() if hist else None})
    ease = rows[0]["ndcg@10"]
    for r in rows:
        r["vs EASE"] = r["ndcg@10"] / ease
    return rows


def genre_groups(dataset) -> np.ndarray:
    """One integer per item: its genre combination (-1 = no genre)."""
    mat, _ = dataset.item_features.multi_hot("genres")
    keys = [tuple(mat.indices[mat.indptr[i]:mat.indptr[i + 1]]) for i in range(mat.shape[0])]
    uniq = {k: g for g, k in enumerate(sorted(set(keys)))}
    return np.array([uniq[k] if k else -1 for k in keys])


def cold_start(dataset, epochs: int) -> list[dict]:
    data = dataset.interactions
    rng = np.random.default_rng(42)
    cold = np.sort(rng.choice(data.n_items, data.n_items // 10, replace=False))
    is_cold = np.zeros(data.n_items, bool)
    is_cold[cold] = True
    ev_cold = is_cold[data.item_index]
    train, test = data.subset(~ev_cold), data.subset(ev_cold)
    users = np.flatnonzero((np.diff(test.matrix.indptr) > 0) & (np.diff(train.matrix.indptr) > 0))
    relevant = test.matrix[users]
    groups = genre_groups(dataset)

    def recall(top: np.ndarray) -> float:
        return float(np.nanmean(ranking_metrics(top, relevant, 20)["recall"]))

    rows = []
    tt = TwoTower(epochs=epochs, patience=3, seed=0, device=DEVICE, learning_rate=0.003)
    tt.fit(train, user_features=dataset.user_features, item_features=dataset.item_features, progress=False)
    top, _ = tt.recommend_indices(users, 20, items=cold)
    rows.append({"model": "two-tower item tower (features)", "recall@20": recall(top)})
    tt.fill_cold_items(groups)
    top, _ = tt.recommend_indices(users, 20, items=cold)
    rows.append({"model": "two-tower + genre-mean vectors", "recall@20": recall(top)})
    als = try_als()
    if als is not None:
        als.fit(train, progress=False)
        als.fill_cold_items(groups)
        top, _ = als.recommend_indices(users, 20, items=cold)
        rows.append({"model": "ALS + genre-mean vectors", "recall@20": recall(top)})
    pop = np.bincount(train.item_index, minlength=data.n_items).astype(float)
    gpop = np.array([pop[(groups == g) & ~is_cold].mean() if ((groups == g) & ~is_cold).any() else 0.0
                     for g in groups[cold]])
    order = cold[np.argsort(-gpop, kind="stable")][:20]
    rows.append({"model": "group popularity", "recall@20": recall(np.tile(order, (len(users), 1)))})
    rand = np.stack([rng.permutation(cold)[:20] for _ in users])
    rows.append({"model": "random", "recall@20": recall(rand)})
    print(f"cold items: {cold.size}, users evaluated: {users.size}, test events: {test.n_events}")
    return rows


def table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    cols = list(rows[0])
    print(" | ".join(f"{c:>12}" for c in cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(f"{v:>12.4f}" if isinstance(v, float) else f"{v if v is not None else '-'!s:>12}")
        print(" | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs, no FM/DeepFM")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--epochs", type=int, default=None, help="max epochs per model (early stopping on)")
    ap.add_argument("--device", default="cpu", help="device of the neural models: cpu, cuda, auto")
    ap.add_argument("--data", default=str(DATA), help="ML-100K folder (raw files or a saved Dataset)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (4 if args.quick else 15)
    data = Path(args.data)
    dataset = Dataset.load(data) if (data / "dataset.json").exists() else load_dataset(data)
    print(f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if args.device != "cpu" else ""))
    t0 = time.perf_counter()
    table(accuracy(dataset, epochs, args.quick), "ML-100K random-holdout:0.25 seed 42, k=10")
    table(cold_start(dataset, epochs), "ML-100K cold-start items (10% held out), rank among cold items")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s, torch threads {args.threads}, epochs <= {epochs}, "
          f"device {args.device}")


if __name__ == "__main__":
    main()
