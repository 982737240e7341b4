"""Shared fixtures: tiny structured data and paths to the shared real datasets.

Under ``CI=true`` a skipped test is a failed one: CI must run what it claims (the shared
data, redis-server, wrk and every peer library the tests compare against are installed by
``.ci/run`` / ``make test``). Only skips whose reason names a condition that cannot hold on
CI's machine are kept (:data:`CI_ALLOWED_SKIPS`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from shortlist.data import Interactions

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: skip reasons that stay skips under CI=true: hardware or platforms CI's machine does not have
CI_ALLOWED_SKIPS = ("needs a CUDA device", "SO_REUSEPORT balancing is Linux-only",
                    "the supervised workers are Linux-only", "no renameat2 RENAME_EXCHANGE here")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_unexplained_skip(report) -> None:
    """Under CI=true, turn a skip (missing data, service, tool or package) into a failure."""
    if not (_in_ci() and report.skipped and not hasattr(report, "wasxfail")):
        return
    reason = _skip_reason(report)
    if any(allowed in reason for allowed in CI_ALLOWED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which must run every test: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexplained_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield  # a module-level importorskip skips the whole file at collection
    _fail_unexplained_skip(outcome.get_result())


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared dataset {name} not available at {path}")
    return path


def block_interactions(n_users: int = 40, n_items: int = 30, density: float = 0.5, seed: int = 0) -> Interactions:
    """Two communities: users 0..n/2 like items 0..m/2, the others like the rest.

    Any working recommender should recommend in-community items; a random one hits half.
    """
    rng = np.random.default_rng(seed)
    half_u, half_i = n_users // 2, n_items // 2
    group_u = np.arange(n_users) >= half_u
    group_i = np.arange(n_items) >= half_i
    same = group_u[:, None] == group_i[None, :]
    mask = same & (rng.random((n_users, n_items)) < density)
    # every user and item gets at least one interaction
    for u in range(n_users):
        if not mask[u].any():
            mask[u, rng.choice(np.flatnonzero(same[u]))] = True
    for i in range(n_items):
        if not mask[:, i].any():
            mask[rng.choice(np.flatnonzero(same[:, i])), i] = True
    return Interactions.from_matrix(sp.csr_matrix(mask.astype(np.float32)), weighting="binary")


@pytest.fixture
def tiny() -> Interactions:
    return block_interactions()
