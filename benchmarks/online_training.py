"""Online training in a drifting world: progressive AUC/log-loss per simulated day, throughput vs VW, memory.

The world: users with topic tastes (10 % redraw theirs each day), 150 new items every simulated
hour (shown while under 48 h old), topics whose popularity rises and fades on multi-day cycles.
Every impression is scored by the model serving at that moment and only then learnt from
(progressive validation); labels become available ``--label-delay`` seconds after the impression.

Compared: (a) a batch FM retrained from scratch every 24 h; (b) the online FM with sync every
1 h, 10 min and 1 min; (c) the online FM on a hashing-trick table of the same bytes; and
Vowpal Wabbit (logistic, ``-q ui`` crosses; ``--vw-opts``) on the same joined stream, for
progressive log-loss and examples/s. Run: ``python benchmarks/online_training.py --seeds 3``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from shortlist.online.embeddings import CollisionlessTable, HashingTable, TableConfig, feature_keys
from shortlist.online.training import OnlineFM, auc

HOUR, DAY = 3600.0, 86400.0


def world(seed: int, days: int, per_hour: int) -> dict[str, np.ndarray]:
    """Impressions (time, user, item) and their click labels from the drifting world."""
    rng = np.random.default_rng(seed)
    n_users, n_topics, new_per_hour = 20_000, 30, 150
    taste = rng.dirichlet(np.full(n_topics, 0.1), n_users)
    n_hours = days * 24
    item_topic = rng.integers(0, n_topics, n_hours * new_per_hour)
    item_quality = rng.normal(0, 0.7, item_topic.size)
    period, phase = rng.uniform(1.5, 5, n_topics) * DAY, rng.uniform(0, 2 * np.pi, n_topics)
    user_weight = rng.zipf(1.6, n_users).astype(float)
    user_p = user_weight / user_weight.sum()
    ts, us, its, ys = [], [], [], []
    for h in range(n_hours):
        if h and h % 24 == 0:  # some users' tastes change
            movers = rng.random(n_users) < 0.10
            taste[movers] = rng.dirichlet(np.full(n_topics, 0.1), int(movers.sum()))
        t = h * HOUR + np.sort(rng.uniform(0, HOUR, per_hour))
        u = rng.choice(n_users, per_hour, p=user_p)
        newest = (h + 1) * new_per_hour
        age = rng.exponential(12, per_hour).clip(0, 47.99)  # hours: fresh items are shown more
        i = (newest - 1 - (age * new_per_hour).astype(int) - rng.integers(0, new_per_hour, per_hour)).clip(0)
        topic = item_topic[i]
        trend = 1.2 * np.sin(2 * np.pi * t / period[topic] + phase[topic])
        logit = -2.2 + 6.0 * taste[u, topic] + item_quality[i] + trend
        y = rng.random(per_hour) < 1 / (1 + np.exp(-logit))
        ts.append(t), us.append(u), its.append(i), ys.append(y)
    return {"t": np.concatenate(ts), "user": np.concatenate(us), "item": np.concatenate(its),
            "y": np.concatenate(ys).astype(np.float64)}


def keys_of(w: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([feature_keys(0, w["user"]), feature_keys(1, w["item"])], axis=1)


def table_config(args: argparse.Namespace) -> TableConfig:
    return TableConfig(dim=args.dim, max_rows=args.max_rows, admit_after=2, ttl_s=2 * DAY, expire_every_s=HOUR,
                       sketch_width=1 << 16)


def online(w, keys, args, sync_s: float, hashing: bool = False) -> np.ndarray:
    """Progressive predictions of an online FM whose serving copy is refreshed every ``sync_s``."""
    table = CollisionlessTable(table_config(args))
    if hashing:
        per_row = 2 * (args.dim + 1) * 4 + 1
        table = HashingTable(n_rows=table.nbytes() // per_row, dim=args.dim)
    fm = OnlineFM(table, lr=args.lr)
    t, trained = w["t"], 0
    pred = np.empty(len(t))
    bounds = np.searchsorted(t, np.arange(0, t[-1] + sync_s, sync_s))
    ready = np.searchsorted(t, np.arange(0, t[-1] + sync_s, sync_s) - args.label_delay)
    for c in range(len(bounds) - 1):
        lo, hi = bounds[c], bounds[c + 1]
        if ready[c] > trained:  # learn what has a label by now, then publish (the serving copy)
            fm.train(keys[trained:ready[c]], w["y"][trained:ready[c]], now=t[ready[c] - 1])
            trained = ready[c]
        if hi > lo:
            pred[lo:hi] = fm.predict(keys[lo:hi])
    return pred


def batch_daily(w, keys, args) -> np.ndarray:
    """Progressive predictions of an FM retrained from scratch on everything before each day (2 epochs)."""
    t, pred = w["t"], np.full(len(w["t"]), np.nan)
    rng = np.random.default_rng(0)
    for day in range(int(np.ceil(t[-1] / DAY))):
        lo, hi = np.searchsorted(t, [day * DAY, (day + 1) * DAY])
        end = np.searchsorted(t, day * DAY - args.label_delay)
        if end == 0:
            pred[lo:hi] = 0.5
            continue
        fm = OnlineFM(CollisionlessTable(table_config(args).model_copy(update={"ttl_s": 1e12})), lr=args.lr)
        for _ in range(2):
            order = rng.permutation(end)
            fm.train(keys[order], w["y"][order], now=day * DAY)
        pred[lo:hi] = fm.predict(keys[lo:hi])
    return pred


def vw_run(w, args) -> tuple[float, float]:
    """VW's progressive log-loss and examples/s on the same stream (one pass, from a file)."""
    from vowpalwabbit import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.vw"
        lines = [f"{1 if y else -1} |u u{u} |i i{i}\n" for u, i, y in zip(w["user"], w["item"], w["y"])]
        path.write_text("".join(lines))
        start = time.perf_counter()
        ws = Workspace(f"--data {path} --loss_function logistic -b 24 --quiet {args.vw_opts}")
        ws.run_parser()
        seconds = time.perf_counter() - start
        loss = ws.get_sum_loss() / ws.get_weighted_examples()
        ws.finish()
    return loss, len(lines) / seconds


def logloss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def per_day(w, pred) -> list[tuple[float, float]]:
    days = (w["t"] // DAY).astype(int)
    return [(auc(pred[days == d], w["y"][days == d]), logloss(pred[days == d], w["y"][days == d]))
            for d in range(days.max() + 1)]


def throughput(w, keys, args) -> tuple[float, float]:
    """Examples/s of one online pass (lookup + Adagrad FM, mini-batches of 1024) and its progressive log-loss."""
    fm = OnlineFM(CollisionlessTable(table_config(args)), lr=args.lr)
    fm.train(keys[:1024], w["y"][:1024], now=0)  # compile outside the clock
    fm = OnlineFM(CollisionlessTable(table_config(args)), lr=args.lr)
    preds = np.empty(len(keys))
    start = time.perf_counter()
    for lo in range(0, len(keys), 1024):
        preds[lo:lo + 1024], _ = fm.train(keys[lo:lo + 1024], w["y"][lo:lo + 1024], now=w["t"][lo])
    return len(keys) / (time.perf_counter() - start), logloss(preds, w["y"])


def rss_mib() -> float:
    """Resident memory of this process now (Linux), in MiB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def memory(n_events: int, args) -> tuple[float, float, int]:
    """RSS (MiB) after the first 10 % and after all of ``n_events`` updates where half the ids are new."""
    fm = OnlineFM(CollisionlessTable(table_config(args).model_copy(update={"ttl_s": HOUR})), lr=args.lr)
    rng = np.random.default_rng(0)
    rss0, chunk, fresh = 0.0, 100_000, 0
    for start in range(0, n_events, chunk):
        old = rng.integers(0, 50_000, chunk // 2)
        new = np.arange(fresh, fresh + chunk // 2) + 10**9
        fresh += chunk // 2
        ids = np.concatenate([old, new])
        keys = np.stack([feature_keys(0, ids), feature_keys(1, rng.integers(0, 5000, chunk))], axis=1)
        fm.train(keys, (rng.random(chunk) < 0.1).astype(float), now=start / chunk * 60)
        if start + chunk == n_events // 10:
            rss0 = rss_mib()
    return rss0, rss_mib(), fm.table.n_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--per-hour", type=int, default=6000, help="impressions per simulated hour")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--max-rows", type=int, default=20_000)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--vw-opts", default="-q ui",
                    help="VW model options (-q ui: every user x item cross; --lrq ui16 diverged here)")
    ap.add_argument("--label-delay", type=float, default=60.0)
    ap.add_argument("--memory-events", type=int, default=10_000_000)
    ap.add_argument("--plot", type=Path, help="write per-day AUC as a PNG here")
    args = ap.parse_args()
    arms = {"batch 24 h": None, "online sync 1 h": HOUR, "online sync 10 min": 600.0, "online sync 1 min": 60.0,
            "hashing, equal bytes, 1 min": -60.0}
    results: dict[str, list[list[tuple[float, float]]]] = {a: [] for a in arms}
    for seed in range(args.seeds):
        w = world(seed, args.days, args.per_hour)
        keys = keys_of(w)
        for name, sync in arms.items():
            pred = batch_daily(w, keys, args) if sync is None else online(w, keys, args, abs(sync), hashing=sync < 0)
            results[name].append(per_day(w, pred))
        print(f"seed {seed}: {len(keys):,} impressions, CTR {w['y'].mean():.3f}, "
              f"{len(np.unique(keys[:, 0]))} users, {len(np.unique(keys[:, 1]))} items", flush=True)
    print("\nprogressive AUC per simulated day (mean over seeds; day 1 has no batch model yet)")
    print(f"{'arm':30s}" + "".join(f"  day {d + 1:<5d}" for d in range(args.days)) + "  days 2+ AUC  logloss")
    for name, runs in results.items():
        a = np.array(runs)  # seeds x days x (auc, logloss)
        print(f"{name:30s}" + "".join(f"  {a[:, d, 0].mean():.4f}   " for d in range(args.days))
              + f"  {a[:, 1:, 0].mean():.4f}      {a[:, 1:, 1].mean():.4f}")
    one_min = np.array(results["online sync 1 min"])[:, 1:, 0].mean(axis=1)
    for other in ("batch 24 h", "hashing, equal bytes, 1 min"):
        diff = one_min - np.array(results[other])[:, 1:, 0].mean(axis=1)
        print(f"online 1 min - {other}: AUC margin per seed {np.round(diff, 4).tolist()}")
    w = world(0, args.days, args.per_hour)
    keys = keys_of(w)
    rate, ours = throughput(w, keys, args)
    vw_loss, vw_rate = vw_run(w, args)
    print(f"\nthroughput, one pass over seed 0 ({len(keys):,} examples, d={args.dim}):")
    print(f"  shortlist online FM: {rate:>12,.0f} examples/s   progressive logloss {ours:.4f}")
    print(f"  vowpal wabbit:       {vw_rate:>12,.0f} examples/s   progressive logloss {vw_loss:.4f}")
    print(f"  ratio: {rate / vw_rate:.2f}x the examples/s, logloss {100 * (ours / vw_loss - 1):+.1f} % vs VW")
    if args.memory_events:
        rss0, rss1, rows = memory(args.memory_events, args)
        print(f"\nmemory: {args.memory_events:,} events, half new ids: RSS after 10 % {rss0:.0f} MiB, at the end {rss1:.0f} MiB, "
              f"rows held {rows} (max {args.max_rows})")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for name, runs in results.items():
            ax.plot(range(1, args.days + 1), np.array(runs)[:, :, 0].mean(axis=0), marker="o", label=name)
        ax.set(xlabel="simulated day", ylabel="progressive AUC", title="Online training in a drifting world")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
