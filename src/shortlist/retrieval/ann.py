"""ANNIndex: maximum-inner-product / cosine search over item vectors, built on faiss.

One index is described by a kind plus structure parameters (like faiss' factory strings);
search-time parameters (``ef_search``, ``nprobe``) are given per call, apart from the
structure. Kinds:

* ``"exact"`` - ``IndexFlatIP``: brute force, the reference every other kind is measured against.
* ``"hnsw"`` - ``IndexHNSWFlat(dim, M)`` with ``ef_construction`` / ``ef_search``.
* ``"ivf"`` - ``IndexIVFFlat`` over ``nlist`` k-means cells, ``nprobe`` cells visited per query.
* ``"pq"`` - ``IndexPQFastScan``: every vector compressed to ``pq_m`` 4-bit codes and scanned
  with SIMD lookup tables (a full scan at ~1/8 of the bytes of ``exact``), then the best
  ``refine * k`` are re-scored exactly with the float vectors. Unlike a graph or cell index
  it visits every item, so it keeps its recall on factor vectors whose norms vary widely
  (the usual case for implicit-feedback MF, where the top inner products belong to a few
  long vectors that HNSW and IVF cells miss).

``metric="cosine"`` L2-normalizes the item vectors and the queries (zero vectors stay zero).
Without faiss, ``"exact"`` runs on numpy (same results); the approximate kinds need the
``ann`` extra (``pip install shortlist[ann]``). Saved through the model-folder writer
(:mod:`shortlist.core.persistence`): faiss' serialized bytes as the blob ``index.faiss`` and/or
the float vectors as an array; never pickle. The faiss index of each kind (construction and
per-search parameters) is made in ``retrieval/ann_kinds.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.core.persistence import META_FILE, Part, read_part, write_part
from shortlist.errors import ConfigError, DataError, ModelFileError, NotFittedError
from shortlist.retrieval._kernels import best_first, rescore_rows
from shortlist.retrieval.ann_kinds import faiss_index, ivf_vectors, search_params

try:  # faiss is the ``ann`` extra; the exact kind works without it
    import faiss
except ImportError:  # pragma: no cover - exercised only where faiss is missing
    faiss = None

__all__ = ["KINDS", "METRICS", "ANNIndex", "faiss_available"]

KINDS = ("exact", "hnsw", "ivf", "pq")
METRICS = ("ip", "cosine")
_FORMAT = 1
#: below this fraction of allowed items a filtered search scans the allowed rows exactly:
#: graph/cell search with a very selective filter visits mostly rejected nodes and loses recall
_DENSE_FILTER_FRACTION = 0.02
_SMALL_BATCH = 16


def faiss_available() -> bool:
    """Whether the faiss backend can be used."""
    return faiss is not None


def _positive_int(name: str, value: Any, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}; e.g. {name}={example}")
    return int(value)


class ANNIndex:
    """A nearest-neighbour index over row vectors, searched by inner product (or cosine).

    Parameters
    ----------
    kind : str
        ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"pq"``.
    metric : str
        ``"ip"`` (inner product, the score of factor models) or ``"cosine"``.
    M, ef_construction, ef_search : int
        HNSW graph degree, build beam width, default search beam width.
    nlist, nprobe : int
        IVF cell count (``None``: ``4 * sqrt(n)``, at most ``n / 39``) and default cells probed.
    pq_m, refine : int, float
        PQ sub-quantizers (``None``: one per dimension; must divide the dimension) and the
        over-fetch factor re-scored exactly (``refine >= 1``; 1 = no re-scoring).
    threads : int
        OpenMP threads for build and search (0 = faiss' default for builds and batches,
        one thread for searches of fewer than 16 queries).
    seed : int
        Seed of the IVF k-means.
    """

    def __init__(self, kind: str = "exact", metric: str = "ip", *, M: int = 32,
                 ef_construction: int = 200, ef_search: int = 128, nlist: int | None = None,
                 nprobe: int = 16, pq_m: int | None = None, refine: float = 2.0,
                 threads: int = 0, seed: int = 42) -> None:
        self.kind = kind
        self.metric = metric
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.nlist = nlist
        self.nprobe = nprobe
        self.pq_m = pq_m
        self.refine = refine
        self.threads = threads
        self.seed = seed
        self._validate()

    def _validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown ANN index kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric={self.metric!r} is not supported; use 'ip' or 'cosine'")
        for name, example in (("M", 32), ("ef_construction", 200), ("ef_search", 128), ("nprobe", 16)):
            _positive_int(name, getattr(self, name), example)
        if self.nlist is not None:
            _positive_int("nlist", self.nlist, 1024)
        if self.pq_m is not None:
            _positive_int("pq_m", self.pq_m, 32)
        r = self.refine
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not r >= 1:
            raise ConfigError(f"refine must be a number >= 1 (1 = no exact re-scoring), got {r!r}; e.g. refine=2")
        t = self.threads
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ConfigError(f"threads must be an integer >= 0 (0 = default), got {t!r}")
        if self.kind != "exact" and faiss is None:
            raise ConfigError(
                f"ANN kind {self.kind!r} needs faiss; install the ann extra "
                "(pip install 'shortlist[ann]') or use kind='exact'")

    def __repr__(self) -> str:
        n = self.ntotal if self.is_built else "unbuilt"
        return f"ANNIndex(kind={self.kind!r}, metric={self.metric!r}, n={n})"

    # -- facts ---------------------------------------------------------------------------
    @property
    def is_built(self) -> bool:
        return hasattr(self, "dim_")

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        self._check_built()
        return int(self.n_)

    def __len__(self) -> int:
        return self.ntotal

    def _check_built(self) -> None:
        if not self.is_built:
            raise NotFittedError("this ANNIndex is empty; call .build(vectors) or ANNIndex.load(path) first")

    @contextmanager
    def _omp(self, n_queries: int | None = None) -> Iterator[None]:
        """faiss' OpenMP threads as asked, restored afterwards (the setting is process-wide).

        With ``threads=0`` a search of fewer than 16 queries runs on one thread: a single
        query gains nothing from a thread team, and spinning threads cost milliseconds on a
        busy machine (e.g. a server answering requests in parallel).
        """
        want = int(self.threads)
        if not want and n_queries is not None and n_queries < _SMALL_BATCH:
            want = 1
        if faiss is None or not want:
            yield
            return
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(want)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)

    def _prepare(self, x: Any, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise DataError(f"{what} must be a 2-d array (n, dim), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise DataError(f"{what} contain NaN or infinite values; clean the vectors first")
        x = np.ascontiguousarray(x)
        if self.metric == "cosine":
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            x = x / np.where(norms > 0, norms, 1.0).astype(np.float32)
        return x

    # -- build ---------------------------------------------------------------------------
    def build(self, vectors: Any) -> ANNIndex:
        """Index the rows of ``vectors`` (n, dim); row i is returned as item index i."""
        self._validate()
        x = self._prepare(vectors, "vectors")
        n, dim = x.shape
        if n == 0 or dim == 0:
            raise DataError(f"cannot build an index over {n} vectors of dimension {dim}; give at least one row")
        if faiss is None:
            self._index = None
            self._vectors = x
        else:
            with self._omp():
                self._index, nlist = faiss_index(self, n, dim, x)
                if nlist is not None:
                    self.nlist_ = nlist
                self._index.add(x)
            # faiss holds flat vectors (rebuilt on demand for filtered scans); pq keeps the
            # float vectors beside its codes for the exact re-scoring
            self._vectors = x if self.kind == "pq" else None
        self.dim_, self.n_ = dim, n
        return self

    # -- search --------------------------------------------------------------------------
    def search(self, queries: Any, k: int, *, allowed: Any = None, ef_search: int | None = None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (indices, scores) per query row, best first; padding is -1 / -inf.

        ``allowed`` restricts results to a boolean mask over the indexed rows or an array of
        row indices. faiss applies it inside the search (``IDSelectorBitmap``); when fewer
        than 2 % of the rows are allowed the allowed rows are scanned exactly instead, since
        a graph or cell search would visit mostly rejected rows. ``ef_search`` / ``nprobe``
        override the index defaults for this call (HNSW / IVF only).
        """
        self._check_built()
        k = _positive_int("k", k, 10)
        q = self._prepare(queries, "queries")
        if q.shape[1] != self.dim_:
            raise DataError(
                f"queries have dimension {q.shape[1]} but the index holds {self.dim_}-d vectors; "
                "use the same model's factors for queries and items")
        if ef_search is not None:
            _positive_int("ef_search", ef_search, 128)
        if nprobe is not None:
            _positive_int("nprobe", nprobe, 16)
        mask = None if allowed is None else self._mask(allowed)
        kk = min(k, self.n_)
        if mask is not None:
            n_allowed = int(mask.sum())
            if n_allowed == 0:
                return _padded(q.shape[0], k, np.zeros((q.shape[0], 0), np.int64), np.zeros((q.shape[0], 0), np.float32))
            kk = min(kk, n_allowed)
            # fast-scan codes take no selector: pq scans the allowed rows exactly
            if self.kind == "pq" or (self.kind != "exact" and n_allowed < _DENSE_FILTER_FRACTION * self.n_):
                return _padded(q.shape[0], k, *self._scan(q, kk, np.flatnonzero(mask)))
        if self._index is None:
            rows = None if mask is None else np.flatnonzero(mask)
            return _padded(q.shape[0], k, *self._scan(q, kk, rows))
        if self.kind == "pq":
            return _padded(q.shape[0], k, *self._pq_search(q, kk))
        params, _keep = search_params(self, mask, ef_search, nprobe, kk)  # _keep: bitmap alive during search
        with self._omp(q.shape[0]):
            dist, lab = self._index.search(q, kk, params=params) if params is not None else self._index.search(q, kk)
        lab = lab.astype(np.int64)
        dist = np.where(lab >= 0, dist, -np.inf).astype(np.float32)
        return _padded(q.shape[0], k, lab, dist)

    def _mask(self, allowed: Any) -> np.ndarray:
        a = np.asarray(allowed)
        if a.dtype == bool:
            if a.shape != (self.n_,):
                raise DataError(f"allowed mask has shape {a.shape}, expected ({self.n_},): one flag per indexed row")
            return a
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= self.n_):
            raise DataError(f"allowed must be a boolean mask or row indices in [0, {self.n_}), got {a[:5]!r}...")
        mask = np.zeros(self.n_, bool)
        mask[a.astype(np.int64)] = True
        return mask

    def _pq_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Fast-scan the codes for ``refine * k`` rows per query, re-score them exactly, keep ``k``."""
        fetch = min(self.n_, max(k, math.ceil(k * float(self.refine))))
        with self._omp(q.shape[0]):
            dist, lab = self._index.search(q, fetch)
        lab = lab.astype(np.int64)
        if fetch == k:
            return lab, np.where(lab >= 0, dist, -np.inf).astype(np.float32)
        exact = rescore_rows(self._vectors, lab, q)
        # best k per row by exact score, ties to the lower row index (as the exact scan)
        pos = np.stack([best_first(exact[r], lab[r], k) for r in range(lab.shape[0])])
        val = np.take_along_axis(exact, pos, axis=1)
        idx = np.take_along_axis(lab, pos, axis=1)
        return np.where(np.isfinite(val), idx, -1), val

    def _scan(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over all rows or the given ones (numpy matmul + argpartition)."""
        vec = self._stored_vectors()
        sub = vec if rows is None else vec[rows]
        scores = q @ sub.T
        k = min(k, sub.shape[0])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -top), axis=1) if part.size else part
        idx = np.take_along_axis(part, order, axis=1)
        val = np.take_along_axis(top, order, axis=1)
        if rows is not None:
            idx = rows[idx]
        return idx.astype(np.int64), val.astype(np.float32)

    def _stored_vectors(self) -> np.ndarray:
        if self._vectors is None:
            # flat-storage indexes can give their vectors back; cache for later filtered scans
            self._vectors = ivf_vectors(self._index, self.n_) if self.kind == "ivf" else self._index.reconstruct_n(0, self.n_)
        return self._vectors

    # -- persistence ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Constructor arguments as given."""
        return {"kind": self.kind, "metric": self.metric, "M": self.M,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "nlist": self.nlist, "nprobe": self.nprobe, "pq_m": self.pq_m, "refine": self.refine,
                "threads": self.threads, "seed": self.seed}

    def to_part(self) -> Part:
        """The index as one saved part: ``index.faiss`` (faiss' own bytes) and/or the vectors."""
        self._check_built()
        backend = "numpy" if self._index is None else "faiss"
        blobs = {"index.faiss": faiss.serialize_index(self._index).tobytes()} if backend == "faiss" else {}
        arrays = {"vectors": self._vectors} if backend == "numpy" or self.kind == "pq" else {}
        meta = {"index": _FORMAT, "backend": backend, "params": self.params(), "dim": self.dim_, "n": self.n_}
        return Part(meta, arrays, blobs)

    def save(self, path: str | Path) -> Path:
        """Write folder ``path`` through the model-folder writer (atomic, checksummed, no pickle)."""
        return write_part(path, self.to_part())

    @classmethod
    def load(cls, path: str | Path) -> ANNIndex:
        """Read an index written by :meth:`save`."""
        path = Path(path)
        if not (path / META_FILE).is_file():
            old = " (written by an earlier layout)" if (path / "meta.json").is_file() else ""
            raise ModelFileError(f"{path} holds no saved ANN index{old}; rebuild and save it")
        return cls.from_part(read_part(path), where=str(path))

    @classmethod
    def from_part(cls, part: Part, *, where: str = "saved ANN index") -> ANNIndex:
        """Rebuild an index from the part written by :meth:`to_part`."""
        meta = part.meta
        if meta.get("index") != _FORMAT:
            raise ModelFileError(f"{where} has index format {meta.get('index')!r}, expected {_FORMAT}; rebuild it")
        try:
            index = cls(**meta["params"])
            if meta["backend"] == "faiss":
                if faiss is None:
                    raise ModelFileError(f"{where} is a faiss index; install the ann extra to load it")
                index._index = faiss.deserialize_index(np.frombuffer(part.blobs["index.faiss"], np.uint8))
                index._vectors = part.arrays["vectors"] if index.kind == "pq" else None
            else:
                index._index = None
                index._vectors = part.arrays["vectors"]
            index.dim_, index.n_ = int(meta["dim"]), int(meta["n"])
        except (KeyError, ValueError, RuntimeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"cannot read an ANN index from {where} ({exc}); rebuild and save it") from exc
        if index._index is not None and index._index.ntotal != index.n_:
            raise ModelFileError(f"{where}: index holds {index._index.ntotal} vectors but meta says {index.n_}")
        return index


def _padded(n_q: int, k: int, idx: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen results to ``k`` columns with -1 / -inf."""
    out_i = np.full((n_q, k), -1, np.int64)
    out_s = np.full((n_q, k), -np.inf, np.float32)
    out_i[:, : idx.shape[1]] = idx
    out_s[:, : val.shape[1]] = val
    return out_i, out_s
