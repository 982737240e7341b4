"""Events on disk partitioned by ALS block, so each block's actor reads only its own events.

A partitioned folder (written by :func:`write_partitioned`) holds every event twice, split
by the modulo rule of ``blocks.py`` (row ``r`` belongs to block ``r % blocks``)::

    by_user/block=<b>/part-0.parquet   the events of users b, b + blocks, ...
    by_item/block=<b>/part-0.parquet   the events of items b, b + blocks, ...
    index/                             blocks, sizes and events per partition (JSON); user ids,
                                       item ids (position = index) and items' event counts (npz)

Columns: ``user`` and ``item`` (int32 indices into the id arrays) and ``value`` (float32, the
training matrix's cell). The index is written last, through :mod:`shortlist.core.persistence`
(checksummed): a folder without it is an unfinished write and is refused. The id -> index
mapping is decided once, by the writer; readers never see the ids of another block.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from shortlist.core.persistence import read_model_dir, write_model_dir
from shortlist.data.interactions import Interactions
from shortlist.data.vocab import Vocab
from shortlist.errors import DataError

__all__ = ["PartitionIndex", "PartitionedEvents", "partition_file", "read_block", "read_block_columns",
           "write_partitioned"]

SIDES = ("user", "item")
INDEX = "index"
KIND = "partitioned-events"
SCHEMA = pa.schema([("user", pa.int32()), ("item", pa.int32()), ("value", pa.float32())])


def partition_file(path: str | Path, side: str, block: int) -> Path:
    """The Parquet file of ``block``'s events, partitioned by ``side`` ("user" or "item")."""
    return Path(path) / f"by_{side}" / f"block={block}" / "part-0.parquet"


@dataclass(frozen=True)
class PartitionIndex:
    """What the driver holds of a partitioned folder: sizes, id maps and counts, never events."""

    blocks: int
    users: Vocab
    items: Vocab
    item_counts: np.ndarray  # events per item (int64): the same as a single-node fit's item_counts_
    events: dict[str, list[int]]  # events per partition, by side

    @property
    def n_events(self) -> int:
        return int(sum(self.events["user"]))

    def shape(self, side: str) -> tuple[int, int]:
        """(rows, columns) of the matrix seen from ``side`` (users x items or items x users)."""
        n_users, n_items = len(self.users), len(self.items)
        return (n_users, n_items) if side == "user" else (n_items, n_users)


@dataclass(frozen=True)
class PartitionedEvents:
    """A partitioned folder readable from every node; ``fit_als(model, source=PartitionedEvents(path))``."""

    path: str

    @cached_property
    def index(self) -> PartitionIndex:
        """The folder's index (read once, verified)."""
        where = Path(self.path) / INDEX
        if not where.is_dir():
            raise DataError(f"{self.path} is not a partitioned events folder (no {INDEX}/; an unfinished write "
                            "leaves none): write it with shortlist.distributed.partitions.write_partitioned")
        meta, arrays = read_model_dir(where)
        if meta.get("kind") != KIND:
            raise DataError(f"{where}: kind is {meta.get('kind')!r}, expected {KIND!r}; write it with write_partitioned")
        return PartitionIndex(int(meta["blocks"]), Vocab(arrays["users"]), Vocab(arrays["items"]),
                              arrays["item_counts"], {side: list(meta["events"][side]) for side in SIDES})

    @property
    def blocks(self) -> int:
        return self.index.blocks

    def interactions(self) -> Interactions:
        """All events as one :class:`Interactions` (loads everything here: for one machine, and for checks)."""
        idx = self.index
        parts = [pq.read_table(partition_file(self.path, "user", b)) for b in range(idx.blocks)]
        table = pa.concat_tables(parts)
        return Interactions(idx.users, idx.items, table["user"].to_numpy(), table["item"].to_numpy(),
                            table["value"].to_numpy(), weighting="value")


def read_block_columns(path: str | Path, side: str, block: int) -> np.ndarray:
    """The other side's indices of every event of ``block`` (``side`` partitioning): what it will receive."""
    other = "item" if side == "user" else "user"
    return pq.read_table(partition_file(path, side, block), columns=[other])[other].to_numpy()


def read_block(path: str | Path, side: str, block: int, index: PartitionIndex) -> sp.csr_matrix:
    """Block ``block``'s own rows of the ``side`` matrix: local row ``k`` is row ``block + k * blocks``.

    Columns keep their global index; cells are sorted inside each row, as in the single-node
    matrix, so the block's solves sum them in the same order.
    """
    other = "item" if side == "user" else "user"
    file = partition_file(path, side, block)
    table = pq.read_table(file)
    rows, cols = table[side].to_numpy().astype(np.int64), table[other].to_numpy()
    n_blocks = index.blocks
    n_rows, n_cols = index.shape(side)
    if rows.size and np.any(rows % n_blocks != block):
        raise DataError(f"{file}: holds {side}s of other blocks; write the folder again with write_partitioned")
    local = rows // n_blocks
    n_local = len(range(block, n_rows, n_blocks))
    order = np.lexsort((cols, local))
    local, cols = local[order], cols[order]
    if np.any((local[1:] == local[:-1]) & (cols[1:] == cols[:-1])):
        raise DataError(f"{file}: a ({side}, {other}) pair appears twice; combine repeated events before writing")
    indptr = np.zeros(n_local + 1, np.int64)
    np.cumsum(np.bincount(local, minlength=n_local), out=indptr[1:])
    value = table["value"].to_numpy()[order]
    return sp.csr_matrix((value, cols.astype(np.int32), indptr), shape=(n_local, n_cols))


class _Partitioner:
    """Open writers, one per (side, block): events are appended as they stream in."""

    def __init__(self, path: Path, blocks: int) -> None:
        self.blocks = blocks
        self.events = {side: [0] * blocks for side in SIDES}
        self.item_counts = np.zeros(0, np.int64)
        self.writers = {}
        for side in SIDES:
            for b in range(blocks):
                file = partition_file(path, side, b)
                file.parent.mkdir(parents=True, exist_ok=True)
                self.writers[side, b] = pq.ParquetWriter(str(file), SCHEMA)

    def add(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        counts = np.bincount(items, minlength=self.item_counts.size)
        counts[:self.item_counts.size] += self.item_counts
        self.item_counts = counts
        for side, key in (("user", users), ("item", items)):
            owner = key % self.blocks
            order = np.argsort(owner, kind="stable")  # stable: a user-sorted stream stays sorted per block
            bounds = np.searchsorted(owner[order], np.arange(self.blocks + 1))
            for b in range(self.blocks):
                take = order[bounds[b]:bounds[b + 1]]
                if take.size:
                    self.writers[side, b].write_table(pa.table(
                        [pa.array(users[take], pa.int32()), pa.array(items[take], pa.int32()),
                         pa.array(values[take], pa.float32())], schema=SCHEMA))
                    self.events[side][b] += int(take.size)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _stream(events: Interactions | str | Path, batch_rows: int):
    """(users, items, values) batches: the matrix's cells, or a ``user_id, item_id`` Parquet file's rows."""
    if isinstance(events, Interactions):
        m = events.matrix
        step = max(1, int(batch_rows * m.shape[0] / max(m.nnz, 1)))
        for lo in range(0, m.shape[0], step):
            part = m[lo:lo + step].tocoo()
            yield (part.row + lo).astype(np.int32), part.col.astype(np.int32), part.data.astype(np.float32)
        return
    file = pq.ParquetFile(str(events), memory_map=True)
    for batch in file.iter_batches(batch_size=batch_rows, columns=["user_id", "item_id"]):
        users, items = batch.column(0).to_numpy(), batch.column(1).to_numpy()
        if users.size and min(users.min(), items.min()) < 0:
            raise DataError(f"{events}: negative ids; ids of a user_id, item_id file are indices 0..max")
        yield users.astype(np.int32), items.astype(np.int32), np.ones(users.size, np.float32)


def write_partitioned(events: Interactions | str | Path, path: str | Path, blocks: int, *,
                      batch_rows: int = 1 << 20) -> PartitionedEvents:
    """Partition ``events`` into ``path`` for ``blocks`` ALS blocks; streamed, one batch in memory at a time.

    ``events``: an :class:`Interactions` (its users x items matrix, ids from its vocabularies)
    or a ``user_id, item_id`` Parquet file whose ids are indices, as
    :func:`shortlist.data.big_world.write_big_world` writes (every event weighs 1, as
    :func:`~shortlist.data.big_world.read_events` reads it). ``path`` must be new, empty or
    a partitioned folder (replaced). Fit with ``blocks`` blocks.
    """
    path = Path(path)
    if int(blocks) < 1:
        raise DataError(f"blocks must be >= 1, got {blocks}; use one block per actor")
    _clear(path)
    out = _Partitioner(path, int(blocks))
    n_users = 0
    try:
        for users, items, values in _stream(events, batch_rows):
            out.add(users, items, values)
            n_users = max(n_users, int(users.max()) + 1 if users.size else 0)
    finally:
        out.close()
    if isinstance(events, Interactions):
        user_ids, item_ids = events.users.ids, events.items.ids
        counts = np.pad(out.item_counts, (0, len(item_ids) - out.item_counts.size))
    else:
        user_ids, item_ids, counts = np.arange(n_users), np.arange(out.item_counts.size), out.item_counts
    write_model_dir(path / INDEX, {"kind": KIND, "blocks": int(blocks), "events": out.events},
                    {"users": np.asarray(user_ids), "items": np.asarray(item_ids), "item_counts": counts})
    return PartitionedEvents(str(path))


def _clear(path: Path) -> None:
    """Make ``path`` ready for a new folder: refuse one with other content, empty an old partitioned one."""
    if not path.exists():
        return
    ours = {"by_user", "by_item", INDEX}
    names = {p.name for p in path.iterdir()}
    if names - ours:
        raise DataError(f"{path} holds {sorted(names - ours)[:3]}, not a partitioned events folder; "
                        "choose a new or empty folder")
    for name in names:
        shutil.rmtree(path / name)
