"""Memory and time a model fit will take, estimated from the shape of the data before fitting.

The estimates are deliberately simple formulas in the sizes that dominate each model
(EASE and the graph filter hold dense n_items x n_items matrices and factorise one; kNN
builds a sparse co-occurrence; ALS solves one small system per row), with constants
measured on this project's 2-core reference machine. They decide what the default
pipeline may try: a model that would not fit in memory, or whose single fit would take
most of the time budget, is skipped with a line that says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from shortlist.data.interactions import Interactions
from shortlist.models.ease import ease_memory_bytes
from shortlist.models.graph_filter import graph_filter_memory_bytes
from shortlist.models.registry import model_defaults

__all__ = ["Cost", "available_memory_bytes", "estimate_cost", "memory_skips", "own_memory_guard", "peak_memory_bytes"]

#: n³/s of EASE's dense factorisation on the reference machine (9,724 items: 9.7 s)
_DENSE_FLOPS = 9e10
#: co-occurring pairs/s of the kNN kernels (MovieLens latest-small item-kNN: 1.5 s)
_SPARSE_OPS = 4e7
#: multiply-adds/s of the ALS conjugate-gradient sweeps (MovieLens latest-small, 64 factors: 0.14 s)
_ALS_OPS = 4e9
#: positive x factor x epoch updates/s of one SGD thread on a 2,000-item catalog; WARP samples
#: more negatives per positive in larger ones (MovieLens 100K: 5.4 s, Yelp's 20k items: 38 s)
_SGD_OPS = 5e7


@dataclass(frozen=True)
class Cost:
    """Estimated peak bytes and seconds of one fit, and what dominates them."""

    bytes: int
    seconds: float
    why: str

    def describe(self) -> str:
        return f"about {self.bytes / 1e9:.1f} GB and {self.seconds:.0f} s per fit ({self.why})"


def _pair_count(matrix: Any, axis: int) -> float:
    """Number of (row, row') pairs that share a column: the work of a co-occurrence product."""
    deg = np.bincount(matrix.indices, minlength=matrix.shape[1]) if axis == 1 else np.diff(matrix.indptr)
    return float(np.sum(deg.astype(np.float64) ** 2))


def estimate_cost(kind: str, params: dict[str, Any], data: Interactions) -> Cost:
    """Estimated cost of fitting model ``kind`` with ``params`` on ``data``."""
    n_users, n_items, nnz = data.n_users, data.n_items, data.nnz
    if kind in ("ease", "session-ease"):
        extra = _pair_count(data.matrix, 0) / _SPARSE_OPS / 10 if kind == "session-ease" else 0.0
        return Cost(ease_memory_bytes(n_items), n_items ** 3 / _DENSE_FLOPS + extra + nnz / 1e7,
                    f"a dense {n_items:,}² inverse")
    if kind == "graph-filter":
        sharpen = float(params.get("sharpen", 0.0)) > 0
        seconds = (0.5 if sharpen else 0.25) * n_items ** 3 / _DENSE_FLOPS + 4.0 * nnz * n_items / _DENSE_FLOPS
        return Cost(graph_filter_memory_bytes(n_items, sharpen), seconds, f"dense {n_items:,}² filters")
    if kind in ("item-knn", "user-knn"):
        pairs = _pair_count(data.matrix, 0 if kind == "item-knn" else 1)
        n = n_items if kind == "item-knn" else n_users
        # the co-occurrence is built one block of rows at a time: its dense block, not n², is held
        return Cost(int(nnz * 24 + n * 8 * min(n, 4096) + n * int(params.get("n_neighbors", 100)) * 8),
                    pairs / _SPARSE_OPS, "a sparse co-occurrence")
    if kind == "als":
        f = int(params.get("factors", 64))
        iters = int(params.get("iterations", 15))
        per_iter = nnz * f * 4 + (n_users + n_items) * f * f * 3
        return Cost(int((n_users + n_items) * f * 12 + nnz * 16), iters * per_iter / _ALS_OPS,
                    f"{f} factors x {iters} iterations")
    if kind in ("warp", "bpr", "sgd-mf", "mf-mse", "mf-logistic"):
        p = {**model_defaults(kind), **params}
        f, epochs = int(p["factors"]), int(p["epochs"])
        threads = int(p["num_threads"]) or os.cpu_count() or 1
        rate = _SGD_OPS * min(1.0, 2000.0 / max(n_items, 1)) ** (1 / 3) * threads
        return Cost(int((n_users + n_items) * f * 12 + nnz * 24), epochs * nnz * f / rate,
                    f"{f} factors x {epochs} epochs of SGD")
    if kind in ("period-popularity", "time-lift"):
        # dense periods x items counts and their smoothing, plus each user's and item's periods
        b = int(params.get("bins", 64)) + 1
        return Cost(int(nnz * 40 + b * n_items * 16 + b * n_users * 8), nnz / 1e7 + b * b * n_items / _DENSE_FLOPS,
                    f"{b} periods x {n_items:,} items")
    # popularity, trending and the like: one pass over the events
    return Cost(int(nnz * 16 + n_items * 16), nnz / 5e7, "one pass over the events")


def _proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` line of a ``/proc`` file, in bytes (None where there is no such file)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory_bytes() -> int:
    """Memory the process may still use (``MemAvailable``; total RAM when that is unknown)."""
    free = _proc_bytes("/proc/meminfo", "MemAvailable")
    if free is not None:
        return free
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024 ** 3


def peak_memory_bytes() -> int:
    """Peak resident memory of this process so far (its own: ``VmHWM``, where Linux has it).

    ``ru_maxrss`` is the fallback; on Linux a process started by a larger one inherits that
    parent's figure there, so it is not used where ``/proc`` answers.
    """
    peak = _proc_bytes("/proc/self/status", "VmHWM")
    if peak is not None:
        return peak
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def memory_skips(models: dict[str, Any], data: Interactions, limit_bytes: float | None = None) -> dict[str, str]:
    """Models (name -> spec with ``kind``/``params``) whose fit would not fit in memory, with why.

    ``limit_bytes`` defaults to 70 % of the memory the machine has free now.
    """
    limit = 0.7 * available_memory_bytes() if limit_bytes is None else float(limit_bytes)
    out = {}
    for name, ms in models.items():
        cost = estimate_cost(ms.kind, ms.params, data)
        own = own_memory_guard(ms.kind, ms.params)
        if cost.bytes > limit:
            out[name] = f"needs {cost.describe()}; {limit / 1e9:.1f} GB may be used here"
        elif own is not None and cost.bytes > own * 1e9:
            out[name] = (f"needs {cost.describe()}, over its max_memory_gb={own:g} "
                         f"(raise it in the model's params to fit it)")
    return out


def own_memory_guard(kind: str, params: dict[str, Any]) -> float | None:
    """The model's own ``max_memory_gb`` (given or default), if it has one."""
    defaults = model_defaults(kind)
    if "max_memory_gb" not in defaults:
        return None
    return float(params.get("max_memory_gb", defaults["max_memory_gb"]))
