"""Blocked ALS whose blocks are read on their own nodes from a partitioned folder (``partitions.py``).

The driver holds the folder's index only (sizes, id maps, item counts). One scan task per
block reads that block's other-side column and returns its in-links, one object per owning
block; each owner's actor gets its out-links (what every block needs from it) as arguments,
reads its own user and item partitions, and builds the same :class:`SideBlock` arrays the
driver would have built from the whole matrix (``blocks.side_block`` on the block's own CSR,
confidences and regularisation from the model's own ``_prepare``). The events never pass
through the driver. A restarted actor reads its partitions again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from shortlist.distributed.blocks import Traffic, in_links, side_block
from shortlist.distributed.partitions import PartitionedEvents, PartitionIndex, read_block, read_block_columns
from shortlist.models.als import ALS

__all__ = ["NodeBlock", "partitioned_links", "partitioned_model", "scan_block"]


def _counted(model: ALS, index: PartitionIndex) -> ALS:
    """An unfitted copy of ``model`` with the item counts its confidences need (no matrix)."""
    copy = ALS(**model.get_params())
    copy.item_counts_ = index.item_counts
    seen = index.item_counts[index.item_counts > 0]
    copy.mean_item_count_ = float(seen.mean()) if seen.size else 1.0  # as ALS._set_counts
    return copy


@dataclass(frozen=True)
class NodeBlock:
    """What a block actor builds its block from: the folder (seen by every node), its block, ALS's parameters."""

    path: str
    block: int
    params: dict[str, Any]

    def load(self, links: list[np.ndarray]) -> dict[str, Any]:
        """The block's payload, as ``als._payloads`` gives it, from its partitions and its out-links."""
        index = PartitionedEvents(self.path).index
        model = _counted(ALS(**self.params), index)
        n = index.blocks
        payload: dict[str, Any] = {}
        for side in ("user", "item"):
            rows = read_block(self.path, side, self.block, index)
            prepared = model._prepare(rows, side)
            payload[side] = side_block(*prepared, np.arange(rows.shape[0]), rows.shape[1], n).arrays()
        # owner b sends block c the rows c's in-links list under owner b (the scan's output)
        payload["out_item"], payload["out_user"] = list(links[:n]), list(links[n:])
        return payload


def scan_block(path: str, block: int) -> tuple:
    """Block ``block``'s in-links, one array per owning block (user side, then item side), and their size."""
    index = PartitionedEvents(path).index
    n_users, n_items = index.shape("user")
    _, _, users = in_links(read_block_columns(path, "user", block), n_items, index.blocks)
    _, _, items = in_links(read_block_columns(path, "item", block), n_users, index.blocks)
    rows = sum(int(r.size) for r in (*users, *items))
    return (*users, *items, np.int64(rows))


def partitioned_links(ray: Any, source: PartitionedEvents, factors: int) -> tuple[list[list], Traffic]:
    """Per owning block, references to its out-links (item side, then user side); and the traffic per iteration.

    Only the references and one count per block reach the driver.
    """
    n = source.blocks
    task = ray.remote(scan_block).options(num_returns=2 * n + 1, scheduling_strategy="SPREAD")
    scans = [task.remote(source.path, b) for b in range(n)]
    rows = sum(int(ray.get(s[-1])) for s in scans)
    links = [[scans[c][j] for c in range(n)] + [scans[c][n + j] for c in range(n)] for j in range(n)]
    row = 4 * factors
    n_users, n_items = source.index.shape("user")
    # every block's distinct columns, each sent once: moved and minimum are the same count here
    moved = Traffic(exchange=rows * row, gram=2 * n * factors * factors * 12, minimum=rows * row,
                    broadcast=n * (n_users + n_items) * row)
    return links, moved


def partitioned_model(model: ALS, source: PartitionedEvents) -> None:
    """Set the fitted attributes a distributed fit needs on the driver, from the index alone.

    ``train_`` is an empty users x items matrix: the driver never holds the events (assign
    ``source.interactions().matrix`` where it fits, for ``exclude_seen`` and saving them).
    """
    index = source.index
    model.users_, model.items_ = index.users, index.items
    model.train_ = sp.csr_matrix(index.shape("user"), dtype=np.float32)
    counted = _counted(model, index)
    model.item_counts_, model.mean_item_count_ = counted.item_counts_, counted.mean_item_count_
