"""Connecting to Ray, and the one fault-injection hook the tests and benchmarks use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shortlist.errors import ConfigError

__all__ = ["KillOnce", "connected", "import_ray", "local_cluster"]


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray engine needs Ray: pip install 'shortlist[ray]'") from None
    return ray


@contextmanager
def connected(address: str | None = None) -> Iterator[Any]:
    """Ray, connected: the running session as it is, else ``ray.init(address)`` shut down on exit.

    ``address`` is a cluster's ``host:port`` or ``"auto"``; ``None`` with no session starts
    a local one-machine cluster for the duration.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def local_cluster(nodes: int, *, object_store_bytes: int, cpus_per_node: int = 1) -> Iterator[Any]:
    """Ray connected to a fresh multi-node cluster on this machine (``ray.cluster_utils``); all shut down on exit.

    Several small nodes on one box exercise what a real cluster does (objects moved between
    node stores, a worker dying on one node) at the size of a test or a benchmark.
    """
    ray = import_ray()
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus_per_node, "object_store_memory": object_store_bytes}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield ray
    finally:
        ray.shutdown()
        cluster.shutdown()


@dataclass(frozen=True)
class KillOnce:
    """Fault injection: the worker running ``step`` for ``block`` exits abruptly, once.

    The marker file makes it once per job, across the restarted worker's retry; it must be
    on a filesystem every node sees (true of a local multi-node cluster). ``step`` counts
    ALS half-steps (0 = first user step, 1 = first item step, ...) or batch numbers.
    """

    marker: str
    step: int
    block: int = 0
    #: "kill": the process exits (Ray restarts the worker and retries); "raise": the task fails
    how: str = "kill"

    def __call__(self, step: int, block: int) -> None:
        """Die here if this is the chosen step and block and it has not happened yet."""
        if step != self.step or block != self.block or os.path.exists(self.marker):
            return
        Path(self.marker).touch()
        if self.how == "raise":
            raise RuntimeError(f"injected failure at step {step}, block {block}")
        os._exit(1)  # no cleanup, no exception: what a killed process looks like to Ray
