"""A real multi-node Ray cluster on this machine (3 nodes of 1 CPU), shared by the tests here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions

NODES = 3
STORE = 200 * 2**20  # a small object store per node: the machine is shared


@pytest.fixture(scope="session")
def ray_cluster():
    """``ray`` connected to a head and two worker nodes; shut down after the session."""
    pytest.importorskip("ray")  # under CI=true a skip fails: `make test` installs the ray extra
    from shortlist.distributed.cluster import local_cluster

    with local_cluster(NODES, object_store_bytes=STORE) as ray:
        yield ray


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
