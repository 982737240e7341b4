"""LinUCB speed: Shortlist vs MABWiser on the same workload, measured in the same run.

Workload: 100 arms, 32-dimensional contexts, alpha=1, ridge 1; both policies first learn
from the same warm-up rows. Two regimes:

* online - one context per call (the serving pattern): ``select`` / ``update`` of one row;
* batched - 1,000 rows per call.

Decisions/s and updates/s are rows per second, from the median time of one call
(robust to pre-emption by other processes) and from the total time of all calls.
Shortlist's batched updates only add to ``A``/``b`` and leave the re-inversion of the
touched arms to the next decision, so a last row times alternating calls (update 1,000
rows, then decide on the next 1,000; MABWiser: ``partial_fit`` then ``predict``), which
pays that deferred cost. Both libraries run with the same BLAS settings: the libraries'
defaults, or a thread limit given by ``--blas-threads N``. (Shortlist limits its
request-sized scoring GEMMs to one thread; MABWiser's per-arm GEMMs use every BLAS
thread, which stall on a busy machine - run both settings to see the difference.) The
script also checks that both libraries choose the same arms on the same contexts, after
the warm-up and again after all the timed updates. Timings on a shared machine are
noisy: rerun to confirm.

    python benchmarks/bandits_vs_mabwiser.py [--quick] [--blas-threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _rate(fn, calls: int, rows_per_call: int) -> tuple[float, float]:
    """Rows per second from the median time of one call (robust to other processes
    pre-empting a few calls on a shared machine) and from the total time (throughput)."""
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        times[i] = time.perf_counter() - start
    return rows_per_call / float(np.median(times)), calls * rows_per_call / float(times.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls (a few seconds)")
    ap.add_argument("--arms", type=int, default=100)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="BLAS thread limit for both libraries (default: the libraries' own settings)")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        run(args)


def _batched_rows(ours, mab, X: np.ndarray, dec: np.ndarray, rew: np.ndarray, b: int, batch: int,
                  batch_calls: int) -> list:
    """Rows of the batched timings (decisions, updates, update+decide cycles) on the rows from ``b`` on."""
    rows = []

    def sl(i: int) -> slice:
        return slice(b + i * batch, b + (i + 1) * batch)

    r_ours = _rate(lambda i: ours.select(X[sl(i)]), batch_calls, batch)
    r_mab = _rate(lambda i: mab.predict(X[sl(i)]), batch_calls, batch)
    rows.append((f"batched decisions/s ({batch}/call)", r_ours, r_mab))
    r_ours = _rate(lambda i: ours.update(X[sl(i)], dec[sl(i)], rew[sl(i)]), batch_calls, batch)
    r_mab = _rate(lambda i: mab.partial_fit(dec[sl(i)], rew[sl(i)], X[sl(i)]), batch_calls, batch)
    rows.append((f"batched updates/s ({batch}/call)", r_ours, r_mab))

    def cycle_ours(i: int) -> None:
        ours.update(X[sl(i)], dec[sl(i)], rew[sl(i)])
        ours.select(X[sl(i + 1)])

    def cycle_mab(i: int) -> None:
        mab.partial_fit(dec[sl(i)], rew[sl(i)], X[sl(i)])
        mab.predict(X[sl(i + 1)])

    r_ours = _rate(lambda i: cycle_ours(batch_calls + i), batch_calls, batch)
    r_mab = _rate(lambda i: cycle_mab(batch_calls + i), batch_calls, batch)
    rows.append((f"update+decide cycles ({batch}+{batch} rows)", r_ours, r_mab))
    return rows


def _print_table(rows: list, args: argparse.Namespace, agree: float, agree_after: float) -> None:
    """The table: per row, median-call and total-time rates of both libraries and their ratio."""
    A, d = args.arms, args.dim
    print(f"LinUCB, {A} arms, {d}-dim contexts, BLAS threads {args.blas_threads or 'default'} (same arms chosen on "
          f"{agree:.0%} of 200 probe contexts after the warm-up, {agree_after:.0%} after all updates)")
    print(f"{'rows/s: median call | total time':<40} {'shortlist':>10} {'mabwiser':>9} {'ratio':>7}"
          f" | {'shortlist':>10} {'mabwiser':>9} {'ratio':>7}")
    for name, (a, a_tot), (m, m_tot) in rows:
        print(f"{name:<40} {a:>10,.0f} {m:>9,.0f} {a / m:>6.1f}x | {a_tot:>10,.0f} {m_tot:>9,.0f} {a_tot / m_tot:>6.1f}x")


def run(args: argparse.Namespace) -> None:
    """Time both libraries on the same workload and print the table."""
    from mabwiser.mab import MAB, LearningPolicy

    from shortlist.bandits import LinUCB

    A, d = args.arms, args.dim
    rng = np.random.default_rng(0)
    n_warm, batch = 2000, 1000
    online_calls = 300 if args.quick else 2000
    mab_update_calls = 10 if args.quick else 50   # MABWiser re-inverts every arm per call
    batch_calls = 3 if args.quick else 10
    n_rows = n_warm + batch * (2 * batch_calls + 1) + online_calls
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
    # MABWiser is timed on fewer online rows: feed it the rest, so both learn the same rows
    rest = slice(o + mab_update_calls, o + online_calls)
    mab.partial_fit(dec[rest], rew[rest], X[rest])
    rows += _batched_rows(ours, mab, X, dec, rew, o + online_calls, batch, batch_calls)
    agree_after = np.mean(ours.select(probe).actions[:, 0] == np.asarray(mab.predict(probe)))

    _print_table(rows, args, agree, agree_after)


if __name__ == "__main__":
    main()
