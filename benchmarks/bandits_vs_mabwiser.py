"""LinUCB speed: Shortlist vs MABWiser on the same workload, measured in the same run.

Workload: 100 arms, 32-dimensional contexts, alpha=1, ridge 1; both policies first learn
from the same warm-up rows. Two regimes:

* online - one context per call (the serving pattern): ``select`` / ``update`` of one row;
* batched - 1,000 rows per call.

Decisions/s and updates/s are rows per second. The script also checks that both
libraries choose the same arms on the same contexts. Timings on a shared machine are
noisy: rerun to confirm.

    python benchmarks/bandits_vs_mabwiser.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _rate(fn, calls: int, rows_per_call: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    return calls * rows_per_call / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls (a few seconds)")
    ap.add_argument("--arms", type=int, default=100)
    ap.add_argument("--dim", type=int, default=32)
    args = ap.parse_args()
    from mabwiser.mab import MAB, LearningPolicy

    from shortlist.bandits import LinUCB

    A, d = args.arms, args.dim
    rng = np.random.default_rng(0)
    n_warm, batch = 2000, 1000
    online_calls = 300 if args.quick else 2000
    mab_update_calls = 10 if args.quick else 50   # MABWiser re-inverts every arm per call
    batch_calls = 3 if args.quick else 10
    n_rows = n_warm + batch * batch_calls + online_calls
    X = rng.normal(size=(n_rows, d)) / np.sqrt(d)
    true = rng.normal(size=(A, d))
    dec = rng.integers(0, A, n_rows)
    rew = (rng.random(n_rows) < 1 / (1 + np.exp(-(X * true[dec]).sum(1)))).astype(float)

    ours = LinUCB(alpha=1.0, l2=1.0, arms=A)
    mab = MAB(list(range(A)), LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0), seed=0)
    ours.update(X[:n_warm], dec[:n_warm], rew[:n_warm])
    mab.fit(dec[:n_warm], rew[:n_warm], X[:n_warm])
    ours.select(X[:1])  # compile the numba kernels outside the timings

    probe = X[n_warm:n_warm + 200]
    agree = np.mean(ours.select(probe).actions[:, 0] == np.asarray(mab.predict(probe)))

    o = n_warm
    rows = []
    r_ours = _rate(lambda i: ours.select(X[o + i:o + i + 1]), online_calls, 1)
    r_mab = _rate(lambda i: mab.predict(X[o + i:o + i + 1]), online_calls, 1)
    rows.append(("online decisions/s", r_ours, r_mab))
    r_ours = _rate(lambda i: ours.update(X[o + i:o + i + 1], dec[o + i:o + i + 1], rew[o + i:o + i + 1]),
                   online_calls, 1)
    r_mab = _rate(lambda i: mab.partial_fit(dec[o + i:o + i + 1], rew[o + i:o + i + 1], X[o + i:o + i + 1]),
                  mab_update_calls, 1)
    rows.append(("online updates/s", r_ours, r_mab))
    b = o + online_calls

    def sl(i: int) -> slice:
        return slice(b + i * batch, b + (i + 1) * batch)

    r_ours = _rate(lambda i: ours.select(X[sl(i)]), batch_calls, batch)
    r_mab = _rate(lambda i: mab.predict(X[sl(i)]), batch_calls, batch)
    rows.append((f"batched decisions/s ({batch}/call)", r_ours, r_mab))
    r_ours = _rate(lambda i: ours.update(X[sl(i)], dec[sl(i)], rew[sl(i)]), batch_calls, batch)
    r_mab = _rate(lambda i: mab.partial_fit(dec[sl(i)], rew[sl(i)], X[sl(i)]), batch_calls, batch)
    rows.append((f"batched updates/s ({batch}/call)", r_ours, r_mab))

    print(f"LinUCB, {A} arms, {d}-dim contexts (same arms chosen on {agree:.0%} of 200 probe contexts)")
    print(f"{'measure':<34} {'shortlist':>12} {'mabwiser':>12} {'ratio':>8}")
    for name, a, m in rows:
        print(f"{name:<34} {a:>12,.0f} {m:>12,.0f} {a / m:>7.1f}x")


if __name__ == "__main__":
    main()
