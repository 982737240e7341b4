"""ANN recall and speed vs exact search, and per-request latency of the candidate sources.

Part 1 builds ``ANNIndex`` kinds over random and clustered float32 vectors (64-d) and
prints build seconds, recall@100 against exact search (the peer, measured in the same
run), batch and single-query queries/s, and the ratio of each to exact search.
Part 2 fits every candidate source on a synthetic catalog (100k items; 20k with
``--quick``) and prints the per-request latency (median, p95) at quota 1000, then the
merge. Timings are wall-clock on whatever machine runs it: rerun to compare.

    nice -n 10 .venv/bin/python benchmarks/ann_recall_qps.py --quick
    nice -n 10 .venv/bin/python benchmarks/ann_recall_qps.py --sizes 100000 1000000 --skip-sources \
        --hnsw-m 16 --ef-construction 64
    nice -n 10 .venv/bin/python benchmarks/ann_recall_qps.py --sizes 100000 --skip-ann
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.sparse as sp

from shortlist.data import FeatureTable, Interactions, Vocab
from shortlist.models.factor import FactorModel
from shortlist.retrieval.ann import ANNIndex
from shortlist.retrieval.sources import SourceContext, build_source, merge_candidates
from shortlist.retrieval.types import Request

DIM, K = 64, 100


def vectors(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.normal(size=(n, DIM)).astype(np.float32)
    centers = np.random.default_rng(123).normal(size=(max(16, n // 1000), DIM)).astype(np.float32)
    x = (centers[rng.integers(0, centers.shape[0], n)] + 0.5 * rng.normal(size=(n, DIM))).astype(np.float32)
    if kind == "skewed":
        # like implicit-feedback MF item factors: norms spread over orders of magnitude
        # (popular items long, rare ones short), so the top inner products are few long vectors
        x *= rng.lognormal(0.0, 1.0, (n, 1)).astype(np.float32)
    return x


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(np.intersect1d(f[f >= 0], t).size for f, t in zip(found, truth))
    return hits / truth.size


def bench_ann(sizes: list[int], n_queries: int, n_single: int, threads: int, hnsw_m: int,
              ef_construction: int, datasets: list[str]) -> None:
    print(f"\n## ANN: recall@{K} and queries/s, {DIM}-d float32, metric ip, threads={threads}")
    print(f"{'data':<10}{'n':>9} {'index':<44}{'build s':>9}{'recall':>8}{'batch q/s':>11}"
          f"{'x exact':>9}{'single q/s':>12}{'x exact':>9}")
    for n in sizes:
        for data in datasets:
            x = vectors(data, n, 0)
            q = vectors(data, n_queries, 1)
            nlist = max(16, int(math.sqrt(n)))
            hnsw = {"M": hnsw_m, "ef_construction": ef_construction}
            specs = [("exact", {}, {}), ("hnsw", hnsw, {"ef_search": 128}), ("hnsw", hnsw, {"ef_search": 256}),
                     ("ivf", {"nlist": nlist}, {"nprobe": 8}), ("ivf", {"nlist": nlist}, {"nprobe": 32}),
                     ("pq", {"refine": 1.0}, {}), ("pq", {"refine": 3.0}, {})]
            built: dict[str, tuple[ANNIndex, float]] = {}
            truth = exact_batch = exact_single = None
            for kind, structure, search in specs:
                key = f"{kind}{structure}"
                if key not in built:
                    t0 = time.perf_counter()
                    built[key] = (ANNIndex(kind, threads=threads, **structure).build(x), time.perf_counter() - t0)
                index, build_s = built[key]
                t0 = time.perf_counter()
                found, _ = index.search(q, K, **search)
                batch = n_queries / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                for i in range(n_single):
                    index.search(q[i], K, **search)
                single = n_single / (time.perf_counter() - t0)
                if kind == "exact":
                    truth, exact_batch, exact_single = found, batch, single
                label = kind + "".join(f" {k}={v}" for k, v in {**structure, **search}.items())
                print(f"{data:<10}{n:>9} {label:<44}{build_s:>9.2f}{recall(found, truth):>8.3f}"
                      f"{batch:>11.0f}{batch / exact_batch:>9.2f}{single:>12.0f}{single / exact_single:>9.2f}",
                      flush=True)


class RandomFactors(FactorModel):
    """Random user/item factors: latency does not depend on what the vectors mean."""

    def __init__(self, *, factors: int = DIM, seed: int = 0) -> None:
        self.factors = factors
        self.seed = seed

    def _fit(self, data: Interactions, *, progress: bool | None) -> None:
        rng = np.random.default_rng(self.seed)
        self.user_factors_ = rng.normal(size=(data.n_users, self.factors)).astype(np.float32)
        self.item_factors_ = rng.normal(size=(data.n_items, self.factors)).astype(np.float32)


def synthetic(n_items: int, n_users: int, per_user: int, seed: int = 0) -> SourceContext:
    """Zipf-popular items, timestamped events, genre tags, publish times, a friends graph."""
    rng = np.random.default_rng(seed)
    n_events = n_users * per_user
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, n_events, p=pop / pop.sum())
    users = np.repeat(np.arange(n_users), per_user)
    ts = 1_700_000_000 + rng.integers(0, 90 * 86_400, n_events)
    data = Interactions(Vocab.range(n_users), Vocab.range(n_items), users, items, timestamp=ts, weighting="binary")
    feats = FeatureTable(data.items)
    tags = [f"t{j}" for j in range(200)]
    feats.add_multi("tags", [[tags[a], tags[b]] for a, b in rng.integers(0, 200, (n_items, 2))])
    feats.add_numeric("publish_time", 1_700_000_000 + rng.integers(0, 365 * 86_400, n_items).astype(np.float64))
    src, dst = rng.integers(0, n_users, 20 * n_users), rng.integers(0, n_users, 20 * n_users)
    social = sp.csr_matrix((np.ones(src.size, np.float32), (src, dst)), shape=(n_users, n_users))
    model = RandomFactors().fit(data)
    return SourceContext(data, {"mf": model}, feats, None, social)


def bench_sources(n_items: int, n_requests: int, quota: int, only: list[str] | None) -> None:
    n_users = max(2000, n_items // 5)
    print(f"\n## Sources: per-request latency, {n_items} items, {n_users} users x 50 events, quota {quota}")
    t0 = time.perf_counter()
    ctx = synthetic(n_items, n_users, 50)
    print(f"synthetic data: {time.perf_counter() - t0:.1f} s")
    hnsw = {"M": 16, "ef_construction": 64, "ef_search": 128}
    specs = [("embedding", {"model": "mf", "index": "hnsw", "index_params": hnsw}),
             ("embedding", {"model": "mf", "index": "exact", "name": "embedding-exact"}),
             ("embedding", {"model": "mf", "index": "ivf", "index_params": {"nprobe": 16},
                            "name": "embedding-ivf"}),
             ("item-to-item", {"model": "mf", "index": "hnsw", "index_params": hnsw, "n_neighbors": 50}),
             ("similar-users", {"model": "mf", "n_neighbors": 50}),
             ("popular", {}), ("trending", {}), ("content", {}), ("social", {}),
             ("rule", {"rule": "new", "window": 30 * 86_400.0})]
    rng = np.random.default_rng(1)
    reqs = [Request(user_index=int(u)) for u in rng.integers(0, n_users, n_requests)]
    anon = [Request(history=rng.integers(0, n_items, 10)) for _ in range(n_requests // 4)]
    print(f"{'source':<18}{'fit s':>8}{'median ms':>11}{'p95 ms':>9}{'anon ms':>9}{'mean n':>8}")
    sources, total = [], np.zeros(n_requests)
    for kind, cfg in specs:
        if only and cfg.get("name", kind) not in only:
            continue
        t0 = time.perf_counter()
        s = build_source(kind, dict(cfg, quota=quota), ctx)
        fit_s = time.perf_counter() - t0
        ms, sizes = [], []
        for r in reqs:
            t0 = time.perf_counter()
            c = s(r)
            ms.append(1000 * (time.perf_counter() - t0))
            sizes.append(len(c))
        anon_ms = [0.0]
        for r in anon:
            t0 = time.perf_counter()
            s(r)
            anon_ms.append(1000 * (time.perf_counter() - t0))
        if s.source_name not in ("embedding-exact", "embedding-ivf"):
            sources.append(s)
            total += np.asarray(ms)
        print(f"{s.source_name:<18}{fit_s:>8.1f}{np.median(ms):>11.3f}{np.percentile(ms, 95):>9.3f}"
              f"{np.median(anon_ms):>9.3f}{np.mean(sizes):>8.0f}", flush=True)
    ms = []
    for r in reqs:
        results = [s(r) for s in sources]
        t0 = time.perf_counter()
        merge_candidates(results, {}, k=quota)
        ms.append(1000 * (time.perf_counter() - t0))
    print(f"{'merge (rrf)':<18}{'':>8}{np.median(ms):>11.3f}{np.percentile(ms, 95):>9.3f}")
    print(f"{'all (hnsw emb.)':<18}{'':>8}{np.median(total):>11.3f}{np.percentile(total, 95):>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k items")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=200, help="queries run one at a time")
    parser.add_argument("--threads", type=int, default=1, help="faiss OpenMP threads (0 = all)")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--data", nargs="+", default=["random", "clustered", "skewed"],
                        choices=["random", "clustered", "skewed"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quota", type=int, default=1000)
    parser.add_argument("--source-items", type=int, default=100_000)
    parser.add_argument("--only", nargs="+", help="source names to measure (default: all)")
    parser.add_argument("--skip-ann", action="store_true")
    parser.add_argument("--skip-sources", action="store_true")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else args.sizes
    if not args.skip_ann:
        bench_ann(sizes, args.queries, args.single, args.threads, args.hnsw_m, args.ef_construction,
                  args.data)
    if not args.skip_sources:
        bench_sources(20_000 if args.quick else args.source_items, args.requests, args.quota, args.only)


if __name__ == "__main__":
    main()
