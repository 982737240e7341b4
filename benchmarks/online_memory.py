"""Bytes per online user: the array-backed MemoryState vs per-user Python objects (deque + dict of arrays).

Usage: python benchmarks/online_memory.py [--users 100000] [--events 10] [--dim 64]

Both stores get the same users, each with ``--events`` history events and one folded-in
vector of ``--dim`` float32. Memory is what tracemalloc sees allocated after the inserts
(numpy reports its buffers to tracemalloc), so the figure includes the growth reserve of
the arrays. Payload = the vector (4 x dim bytes) + 8 bytes per event (int32 item, float32
weight); overhead = the rest.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections import OrderedDict, deque
from collections.abc import Callable

import numpy as np

from shortlist.online.memory_state import MemoryState


class PerUserObjects:
    """The previous design: an OrderedDict of deques of (item, weight) tuples and a dict of vectors."""

    def __init__(self, history_length: int = 200) -> None:
        self.hist: OrderedDict[str, deque] = OrderedDict()
        self.vectors: dict[str, dict[str, np.ndarray]] = {}
        self.history_length = history_length

    def add_history(self, user: str, items: list[tuple[str, float]]) -> None:
        dq = self.hist.get(user)
        if dq is None:
            dq = self.hist[user] = deque(maxlen=self.history_length)
        dq.extend(items)

    def set_vector(self, key: str, user: str, vec: np.ndarray) -> None:
        self.vectors.setdefault(key, {})[user] = np.asarray(vec, np.float32)


def measure(make: Callable[[], object], n_users: int, n_events: int, dim: int) -> float:
    """Bytes allocated per user after inserting ``n_users`` users."""
    rng = np.random.default_rng(0)
    items = [str(i) for i in range(5000)]  # the catalogue exists before: not per-user cost
    picks = rng.integers(0, len(items), (n_users, n_events))
    vec = np.ones(dim, np.float32)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = make()
    for u in range(n_users):
        uid = str(1_000_000 + u)
        store.add_history(uid, [(items[j], 1.0) for j in picks[u]])
        store.set_vector("v@1/mf", uid, vec)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del store
    return used / n_users


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--events", type=int, nargs="+", default=[3, 10, 50], help="history events per user")
    ap.add_argument("--dim", type=int, default=64, help="factors of the folded-in vector")
    args = ap.parse_args()
    print(f"{args.users:,} users with one {args.dim}-float vector each; payload = {4 * args.dim} B + 8 B per event\n")
    print("| events/user | store | bytes/user | overhead beyond payload | vs previous |")
    print("|---:|---|---:|---:|---:|")
    for events in args.events:
        payload = 4 * args.dim + 8 * events
        new = measure(lambda: MemoryState(memory_bytes=4 << 30), args.users, events, args.dim)
        old = measure(PerUserObjects, args.users, events, args.dim)
        for name, per_user in (("MemoryState (arrays, this version)", new), ("per-user objects (previous)", old)):
            print(f"| {events} | {name} | {per_user:,.0f} | {per_user - payload:,.0f} | {per_user / old:.2f}x |")


if __name__ == "__main__":
    main()
