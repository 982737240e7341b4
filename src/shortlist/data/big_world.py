"""A MovieLens-20M-sized synthetic world, written to Parquet a chunk of users at a time, and read back streamed.

The world: users in one of ``tastes`` tastes, items with a taste and a Zipf popularity,
each user with at least ``min_per_user`` distinct items and a log-normal count beyond that
(MovieLens 20M: 138,493 users x 26,744 items, 20,000,263 ratings, 20 or more per user).
A user's item is drawn from their taste's items with probability ``taste_share``, else
from all items, both by popularity. Nothing ever holds more than one chunk of events
besides the file: the writer appends one row group per chunk, and :func:`read_events`
fills preallocated arrays batch by batch from a memory-mapped file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import scipy.sparse as sp

from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab

__all__ = ["ML20M", "read_events", "write_big_world"]

#: MovieLens 20M's users, items and events
ML20M = (138_493, 26_744, 20_000_263)


def _per_user(rng: np.random.Generator, n_users: int, n_items: int, n_events: int, min_per_user: int) -> np.ndarray:
    """Distinct items per user: ``min_per_user`` plus a log-normal tail, summing to about ``n_events``."""
    extra = rng.lognormal(0.0, 1.2, n_users)
    want = max(n_events - min_per_user * n_users, 0)
    scale = want / extra.sum()
    cap = max(n_items // 4, min_per_user)
    for _ in range(8):  # what the cap cuts off the heaviest users goes to the others
        counts = np.minimum(min_per_user + np.round(extra * scale).astype(np.int64), cap)
        got = counts.sum() - min_per_user * n_users
        if got <= 0 or abs(got - want) < 1e-4 * max(want, 1):
            break
        scale *= want / got
    return counts


def _draw(rng: np.random.Generator, users: np.ndarray, user_taste: np.ndarray,
          pools: list[tuple[np.ndarray, np.ndarray]], taste_share: float) -> np.ndarray:
    """One item per entry of ``users``: from the user's taste with probability ``taste_share``, by popularity."""
    taste = np.where(rng.random(users.size) < taste_share, user_taste[users], -1)
    items = np.empty(users.size, np.int64)
    for t, (pool, cdf) in enumerate(pools, start=-1):
        where = np.flatnonzero(taste == t)
        pick = np.searchsorted(cdf, rng.random(where.size) * cdf[-1])
        items[where] = pool[np.minimum(pick, pool.size - 1)]
    return items


def _first_distinct(users: np.ndarray, items: np.ndarray, counts: np.ndarray, n_items: int) -> np.ndarray:
    """Positions of the first ``counts[u]`` distinct items of each user, in draw order."""
    _, first_seen = np.unique(users * n_items + items, return_index=True)
    first_seen.sort()  # distinct cells in draw order, so "the first k of a user" is a random k
    u = users[first_seen]
    order = np.argsort(u, kind="stable")
    first_seen, u = first_seen[order], u[order]
    start = np.searchsorted(u, np.arange(counts.size))
    return first_seen[np.arange(u.size) - start[u] < counts[u]]


def _chunk(rng: np.random.Generator, first: int, counts: np.ndarray, user_taste: np.ndarray,
           pools: list[tuple[np.ndarray, np.ndarray]], taste_share: float, n_items: int) -> pl.DataFrame:
    """Events of users ``first, first + 1, ...``: distinct items per user, sorted by (user, item)."""
    users = np.zeros(0, np.int64)
    items = np.zeros(0, np.int64)
    need = counts
    for round_ in range(4):
        # a third more draws than missing: repeats of popular items are dropped, the first ``counts`` kept;
        # the last round draws uniformly, so heavy users reach their count despite the popularity skew
        more = np.repeat(np.arange(counts.size), np.ceil(need * 1.33).astype(np.int64) + (need > 0) * 2)
        drawn = (rng.integers(n_items, size=more.size) if round_ == 3
                 else _draw(rng, more, user_taste, pools, taste_share))
        users, items = np.concatenate([users, more]), np.concatenate([items, drawn])
        keep = _first_distinct(users, items, counts, n_items)
        users, items = users[keep], items[keep]
        need = counts - np.bincount(users, minlength=counts.size)
        if not need.any():
            break
    order = np.argsort(users * n_items + items)
    return pl.DataFrame({"user_id": (users[order] + first).astype(np.int32),
                         "item_id": items[order].astype(np.int32)})


def write_big_world(path: str | Path, *, n_users: int = ML20M[0], n_items: int = ML20M[1],
                    n_events: int = ML20M[2], tastes: int = 50, taste_share: float = 0.7, min_per_user: int = 20,
                    chunk_users: int = 10_000, seed: int = 0) -> int:
    """Write the world's ``user_id, item_id`` events to one Parquet file; returns the events written.

    The same arguments (``chunk_users`` included: each chunk draws from its own seed) give
    the same file.
    """
    rng = np.random.default_rng(seed)
    pop = rng.permutation(np.arange(1, n_items + 1, dtype=np.float64) ** -0.9)
    item_taste = rng.integers(tastes, size=n_items)
    user_taste = rng.integers(tastes, size=n_users)
    counts = _per_user(rng, n_users, n_items, n_events, min_per_user)
    pools = [(np.arange(n_items), np.cumsum(pop))]
    for t in range(tastes):
        pool = np.flatnonzero(item_taste == t)
        # a taste without items (few items, many tastes) draws from all items
        pools.append((pool, np.cumsum(pop[pool])) if pool.size else pools[0])
    written = 0
    writer = None
    try:
        for c, first in enumerate(range(0, n_users, chunk_users)):
            last = min(first + chunk_users, n_users)
            frame = _chunk(np.random.default_rng([seed, c]), first, counts[first:last], user_taste[first:last],
                           pools, taste_share, n_items)
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table)  # one row group per chunk: the file grows, memory does not
            written += frame.height
    finally:
        if writer is not None:
            writer.close()
    return written


def read_events(path: str | Path, *, batch_rows: int = 1 << 20) -> Interactions:
    """Interactions of a ``user_id, item_id`` Parquet file sorted by user, read in streamed batches.

    Ids are taken as indices (``0 .. max``). The file is memory-mapped and read ``batch_rows``
    at a time into arrays sized from its metadata, so the peak is the result plus one batch.
    The CSR matrix shares the event arrays (no COO round trip), which needs the file's
    (user, item) pairs distinct and sorted, as :func:`write_big_world` writes them.
    """
    file = pq.ParquetFile(str(path), memory_map=True)
    n = file.metadata.num_rows
    users, items = np.empty(n, np.int32), np.empty(n, np.int32)
    at = 0
    for batch in file.iter_batches(batch_size=batch_rows, columns=["user_id", "item_id"]):
        m = batch.num_rows
        users[at:at + m] = batch.column(0).to_numpy()
        items[at:at + m] = batch.column(1).to_numpy()
        at += m
    if n and (np.any(np.diff(users) < 0)):
        raise ValueError(f"{path}: rows are not sorted by user_id; sort the file (or use Interactions.from_frame)")
    n_users = int(users.max()) + 1 if n else 0
    n_items = int(items.max()) + 1 if n else 0
    value = np.ones(n, np.float32)
    data = Interactions(Vocab.range(n_users), Vocab.range(n_items), users, items, value, weighting="binary")
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    matrix = sp.csr_matrix((value, data.item_index, indptr), shape=(n_users, n_items))
    if not matrix.has_sorted_indices or _has_repeats(matrix):
        raise ValueError(f"{path}: (user, item) pairs repeat or are unsorted; use Interactions.from_frame")
    data.__dict__["matrix"] = matrix  # the cached property, filled without a second copy of the events
    return data


def _has_repeats(m: sp.csr_matrix) -> bool:
    """True if a row holds an item twice (indices already sorted within rows)."""
    same = m.indices[1:] == m.indices[:-1]
    row_starts = np.zeros(m.nnz, bool)
    row_starts[m.indptr[1:-1][m.indptr[1:-1] < m.nnz]] = True
    return bool(np.any(same & ~row_starts[1:]))

