"""How a layout that co-locates related users and items moves distributed ALS's minimum traffic.

Distributed ALS (``shortlist.distributed``) splits users and items into blocks by index modulo
the block count (hash partitioning, as Spark MLlib does). Each iteration, every factor row
goes once to every block with an interaction with it: the *minimum* of any blocked scheme
under that layout, which the implementation meets (see docs/scale.md). A layout that puts
users and the items they touch in the same block lowers that minimum: rows a block owns
never cross the network. This script counts both, with ``minimum_rows``, for:

* **modulo**: the shipped layout;
* **co-located**: items clustered by their leading singular vectors (k-means, balanced by
  events per block), then each user sent to the block holding most of its events, subject to
  the same balance (at most ``--slack`` x the mean events per block, so no block does much
  more work than the others).

Counts are rows per iteration (user step + item step); multiply by ``4 f`` for bytes.

    nice -n 5 .venv/bin/python benchmarks/partition_minimum.py [--blocks 2,4,8,16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2
from scipy.sparse.linalg import svds

from shortlist.distributed.blocks import minimum_rows

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _balanced_assign(prefer: np.ndarray, weight: np.ndarray, n_blocks: int, cap: float) -> np.ndarray:
    """Each row to its most preferred block with room left (heaviest rows first)."""
    out = np.empty(prefer.shape[0], np.int64)
    load = np.zeros(n_blocks)
    for r in np.argsort(-weight, kind="stable"):
        for b in np.argsort(-prefer[r], kind="stable"):
            if load[b] + weight[r] <= cap or b == np.argmin(load):
                out[r] = b
                load[b] += weight[r]
                break
    return out


def colocated_layout(m: sp.csr_matrix, n_blocks: int, slack: float = 1.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(user block, item block): items by k-means on singular vectors, users to their items' block."""
    x = sp.csr_matrix(m, dtype=np.float64)
    x.data[:] = 1.0
    k = min(max(2 * n_blocks, 8), min(x.shape) - 1)
    _, s, vt = svds(x, k=k, random_state=seed)
    items = (vt.T * s).astype(np.float64)
    items /= np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    centers, _ = kmeans2(items, n_blocks, seed=seed, minit="++")
    item_events = np.asarray(x.sum(axis=0)).ravel()
    cap = slack * item_events.sum() / n_blocks
    item_block = _balanced_assign(items @ centers.T, item_events, n_blocks, cap)
    onehot = sp.csr_matrix((np.ones(x.shape[1]), (np.arange(x.shape[1]), item_block)), shape=(x.shape[1], n_blocks))
    user_pref = np.asarray((x @ onehot).todense())
    user_block = _balanced_assign(user_pref, np.asarray(x.sum(axis=1)).ravel(), n_blocks, cap)
    return user_block, item_block


def datasets(names: list[str]) -> dict[str, sp.csr_matrix]:
    from shortlist.data.loading import load_data

    out = {}
    for name in names:
        spec = {"ml-100k": str(DATA / "ml-100k"), "lastfm-2k": str(DATA / "lastfm-2k")}.get(name, name)
        if not spec.startswith("synthetic") and not Path(spec).exists():
            print(f"{name}: not found, skipped", file=sys.stderr)
            continue
        out[name] = load_data(spec).interactions.matrix.tocsr()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", default="2,4,8,16")
    ap.add_argument("--data", default="synthetic:medium,ml-100k,lastfm-2k",
                    help="comma-separated: synthetic:PRESET or ml-100k / lastfm-2k from the shared data folder")
    ap.add_argument("--slack", type=float, default=1.1)
    args = ap.parse_args()
    names = [n for n in args.data.split(",") if n]
    print(f"{'data':<20}{'blocks':>7}{'layout':>12}{'rows to blocks':>16}{'rows across':>13}"
          f"{'across vs modulo':>18}{'max/mean events':>17}")
    for name, m in datasets(names).items():
        events_u = np.diff(m.indptr)
        for n_blocks in (int(b) for b in args.blocks.split(",")):
            mod_u, mod_i = np.arange(m.shape[0]) % n_blocks, np.arange(m.shape[1]) % n_blocks
            mod = minimum_rows(m, mod_u, mod_i)
            co_u, co_i = colocated_layout(m, n_blocks, args.slack)
            co = minimum_rows(m, co_u, co_i)
            for label, (to_blocks, across), ub in (("modulo", mod, mod_u), ("co-located", co, co_u)):
                per_block = np.bincount(ub, weights=events_u, minlength=n_blocks)
                print(f"{name:<20}{n_blocks:>7}{label:>12}{to_blocks:>16,}{across:>13,}"
                      f"{across / max(mod[1], 1):>18.2f}{per_block.max() / per_block.mean():>17.2f}")


if __name__ == "__main__":
    main()
