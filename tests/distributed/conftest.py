"""A real multi-node Ray cluster on this machine (3 nodes of 1 CPU), shared by the tests here."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions

NODES = 3
STORE = 200 * 2**20  # a small object store per node: the machine is shared


@pytest.fixture(scope="package")
def ray_cluster():
    """``ray`` connected to a head and two worker nodes; shut down after the last test here.

    Usage stats are off: with them on, Ray Data starts a driver thread that outlives
    ``ray.shutdown()`` and every 10 s logs a traceback for its failed Prometheus query. On
    CPython 3.11 formatting a traceback runs ``ast.parse``, whose recursion counter is shared
    between threads, so a test parsing source at the same moment got a spurious
    ``SystemError: AST constructor recursion depth mismatch`` (cpython#106905).
    """
    pytest.importorskip("ray")  # under CI=true a skip fails: `make test` installs the ray extra
    from shortlist.distributed.cluster import local_cluster

    before = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        with local_cluster(NODES, object_store_bytes=STORE) as ray:
            yield ray
    finally:
        if before is None:
            os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
        else:
            os.environ["RAY_USAGE_STATS_ENABLED"] = before


@pytest.fixture(scope="session")
def skewed() -> Interactions:
    """500 users x 300 items with popular items and heavy users (so blocks differ in size)."""
    rng = np.random.default_rng(3)
    n_users, n_items = 500, 300
    per_user = rng.geometric(0.08, n_users)
    rows = np.repeat(np.arange(n_users), per_user)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    cols = rng.choice(n_items, rows.size, p=pop / pop.sum())
    m = sp.csr_matrix((rng.integers(1, 4, rows.size).astype(np.float32), (rows, cols)), shape=(n_users, n_items))
    m.sum_duplicates()
    return Interactions.from_matrix(m)
