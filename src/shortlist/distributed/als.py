"""ALS fitted on a Ray cluster: one actor per block of users and items (see ``blocks.py``).

Each half-step, the owner of every block of the fixed side sends each other block only
the rows its interactions touch (its out-link) plus its partial Gramian; the driver sums
the Gramians (d x d) and each block solves its rows with the single-node numba kernel.
The result is the same :class:`~shortlist.models.als.ALS` a single-node fit gives, up to
float rounding in the Gramian's summation order.

Actors keep no state between calls except their static block: every call takes the
current factors as an object reference and returns new ones, so a worker that dies is
restarted by Ray, rebuilds its block from the driver's references and retries the call.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from shortlist.data.interactions import Interactions
from shortlist.distributed.blocks import SideBlock, Traffic, block_rows, build_side, traffic
from shortlist.distributed.cluster import KillOnce, import_ray
from shortlist.distributed.partitioned_fit import NodeBlock, partitioned_links, partitioned_model
from shortlist.distributed.partitions import PartitionedEvents
from shortlist.errors import ConfigError
from shortlist.models.als import ALS

__all__ = ["ALSFit", "fit_als"]

SIDES = ("user", "item")


class ALSBlock:
    """Block ``b``: its users (solved in the user step) and its items (solved in the item step)."""

    def __init__(self, block: int, payload: dict[str, Any] | NodeBlock, w0: float, exact: bool, cg_steps: int,
                 threads: int, *links: np.ndarray) -> None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        if isinstance(payload, NodeBlock):  # read from this block's partitions, here
            payload = payload.load(list(links))
        self.block = block
        self.solving = {side: SideBlock.from_arrays(payload[side]) for side in SIDES}
        #: rows of this block's own factors that each block needs, per side being sent
        self.out_links = {side: payload[f"out_{side}"] for side in SIDES}
        self.w0, self.exact, self.cg_steps = float(w0), bool(exact), int(cg_steps)

    def send(self, side: str, own: np.ndarray) -> tuple:
        """This block's ``side`` factors: the partial Gramian, then the rows for each block."""
        own = np.asarray(own)
        gram = own.astype(np.float64).T @ own.astype(np.float64)
        return (gram, *[np.ascontiguousarray(own[idx]) for idx in self.out_links[side]])

    def solve(self, side: str, step: int, own: np.ndarray, gram: np.ndarray, chaos: KillOnce | None,
              *received: np.ndarray) -> np.ndarray:
        """New factors of this block's ``side`` rows, from the rows received (the other side)."""
        import numba

        from shortlist.models._kernels.als import solve_rows
        from shortlist.models.blas import one_blas_thread

        blk = self.solving[side]
        out = np.array(own, np.float32, copy=True)  # objects from the store are read-only
        fixed = np.ascontiguousarray(np.concatenate(received), np.float32)
        gram = np.array(gram, np.float32, copy=True)  # writable, like the single-node call (one numba build)
        n_blocks = max(1, min(out.shape[0], 8 * numba.get_num_threads()))
        with one_blas_thread():
            solve_rows(blk.indptr, blk.indices, blk.conf, fixed, gram, self.w0, blk.reg, out, self.exact,
                       self.cg_steps, n_blocks)
        if chaos is not None:
            chaos(step, self.block)  # after the work, before the answer: the worst moment to die
        return out


@dataclass
class ALSFit:
    """A distributed fit: the fitted model, its timing and the bytes each iteration moved."""

    model: ALS
    blocks: int
    traffic: Traffic
    setup_seconds: float
    iteration_seconds: list[float] = field(default_factory=list)


def _payloads(model: ALS, n_blocks: int) -> tuple[list[dict[str, Any]], Traffic]:
    """Per block, the arrays its actor holds; and the traffic one iteration will cause."""
    m = model.train_.astype(np.float32)
    m.sort_indices()
    mt = m.T.tocsr()
    mt.sort_indices()
    n_users, n_items = m.shape
    users = build_side(*model._prepare(m, "user"), n_items, n_blocks)
    items = build_side(*model._prepare(mt, "item"), n_users, n_blocks)
    payloads = []
    for b in range(n_blocks):
        payloads.append({
            "user": users[b].arrays(), "item": items[b].arrays(),
            # block b owns item rows b, b+B, ...: user block c needs users[c].receive[b] of them
            "out_item": [users[c].receive[b] for c in range(n_blocks)],
            "out_user": [items[c].receive[b] for c in range(n_blocks)],
        })
    return payloads, traffic(users, items, n_users, n_items, int(model.factors))


def _half_step(ray: Any, actors: list, side: str, fixed: list, own: list, step: int,
               chaos: KillOnce | None) -> list:
    """Solve every block's ``side`` rows; returns references to the new factors."""
    n = len(actors)
    other = "item" if side == "user" else "user"
    sent = [a.send.options(num_returns=n + 1).remote(other, fixed[b]) for b, a in enumerate(actors)]
    gram = np.zeros_like(ray.get(sent[0][0]))
    for b in range(n):  # a fixed order: the same sum on every run
        gram += ray.get(sent[b][0])
    gram = np.ascontiguousarray(gram, np.float32)
    return [a.solve.remote(side, step, own[c], gram, chaos, *[sent[b][1 + c] for b in range(n)])
            for c, a in enumerate(actors)]


def _start_actors(ray: Any, model: ALS, payloads: list, threads: int, links: list | None = None) -> tuple[list, list]:
    """One actor per block, from its payload (arrays, or a :class:`NodeBlock` with its out-link references)."""
    remote = ray.remote(ALSBlock).options(
        num_cpus=threads, max_restarts=-1, max_task_retries=-1, scheduling_strategy="SPREAD")
    refs = [ray.put(p) for p in payloads]  # held by the driver: a restarted actor rebuilds from them
    links = links or [[] for _ in payloads]
    actors = [remote.remote(b, refs[b], float(model.w0), model.solver == "cholesky", int(model.cg_steps), threads,
                            *links[b])
              for b in range(len(payloads))]
    return actors, [refs, links]


def _set_up(ray: Any, model: ALS, data: Interactions | None, source: PartitionedEvents | None,
            n_blocks: int, threads: int) -> tuple[list, list, Traffic]:
    """Fitted attributes on the driver, the block actors started, the traffic per iteration."""
    model._validate_params()  # the same checks and fitted attributes as Recommender.fit
    if source is None:
        model.users_, model.items_, model.train_ = data.users, data.items, data.matrix
        model._set_counts()
        payloads, moved = _payloads(model, n_blocks)
        return (*_start_actors(ray, model, payloads, threads), moved)
    partitioned_model(model, source)
    links, moved = partitioned_links(ray, source, int(model.factors))
    nodes = [NodeBlock(source.path, b, model.get_params()) for b in range(n_blocks)]
    return (*_start_actors(ray, model, nodes, threads, links), moved)


def _block_count(ray: Any, source: PartitionedEvents | None, blocks: int | None, threads: int) -> int:
    if source is None:
        return int(blocks or max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, threads)))
    if blocks is not None and int(blocks) != source.blocks:
        raise ConfigError(f"blocks={blocks}, but {source.path} is partitioned into {source.blocks} blocks; "
                          f"leave blocks unset or write the partitions again with blocks={blocks}")
    return source.blocks


def fit_als(model: ALS, data: Interactions | None = None, *, source: PartitionedEvents | None = None,
            blocks: int | None = None, threads: int = 1, progress: bool | None = None,
            chaos: KillOnce | None = None) -> ALSFit:
    """Fit ``model`` (an unfitted or fitted :class:`ALS`) on the connected Ray cluster.

    The events are ``data`` (loaded here, split into blocks by the driver) or ``source``, a
    folder written by :func:`~shortlist.distributed.partitions.write_partitioned` that every
    node can read: each block actor then reads its own partitions and the driver holds only
    the index (the fitted model's ``train_`` is an empty matrix of the right shape).
    ``blocks`` defaults to the cluster's CPUs divided by ``threads`` (numba threads per
    block actor), or the folder's blocks. ``chaos`` kills one worker once, for the fault tests.
    """
    ray = import_ray()
    if not isinstance(model, ALS):
        raise ConfigError(f"the ray engine fits ALS models only, got {type(model).__name__}; fit it locally")
    if not ray.is_initialized():
        raise ConfigError("no Ray session: call ray.init(address) or use shortlist.distributed.connected()")
    if (data is None) == (source is None):
        raise ConfigError("fit_als needs the events once: interactions, or source=PartitionedEvents(path)")
    n_blocks = _block_count(ray, source, blocks, threads)
    t0 = time.perf_counter()
    actors, _held, moved = _set_up(ray, model, data, source, n_blocks, threads)
    n_users, n_items = model.train_.shape
    f = int(model.factors)
    rng = np.random.default_rng(model.random_state)  # the single-node initialisation, draw for draw
    item_init = rng.standard_normal((n_items, f), dtype=np.float32) * np.float32(0.1 / math.sqrt(f))
    y = [ray.put(np.ascontiguousarray(item_init[block_rows(n_items, n_blocks, b)])) for b in range(n_blocks)]
    x = [ray.put(np.zeros((block_rows(n_users, n_blocks, b).size, f), np.float32)) for b in range(n_blocks)]
    fit = ALSFit(model, n_blocks, moved, time.perf_counter() - t0)
    try:
        for it in tqdm(range(int(model.iterations)), desc=f"als on ray ({n_blocks} blocks)", unit="it",
                       disable=None if progress is None else not progress):
            t1 = time.perf_counter()
            x = _half_step(ray, actors, "user", y, x, 2 * it, chaos)
            y = _half_step(ray, actors, "item", x, y, 2 * it + 1, chaos)
            ray.wait(y, num_returns=n_blocks)
            fit.iteration_seconds.append(time.perf_counter() - t1)
        model.user_factors_ = _gather(ray, x, n_users, n_blocks, f)
        model.item_factors_ = _gather(ray, y, n_items, n_blocks, f)
    finally:
        for a in actors:
            ray.kill(a)
    return fit


def _gather(ray: Any, refs: list, n: int, n_blocks: int, f: int) -> np.ndarray:
    out = np.empty((n, f), np.float32)
    for b, part in enumerate(ray.get(refs)):
        out[block_rows(n, n_blocks, b)] = part
    return out
