"""The faiss index behind each :class:`~shortlist.retrieval.ann.ANNIndex` kind: construction and search parameters.

One builder per kind (``exact``, ``hnsw``, ``ivf``, ``pq``) from the index's structure
parameters, and the per-search parameters (beam width, cells probed, the allowed-rows
bitmap). Only called where faiss is installed; the numpy backend needs none of this.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shortlist.errors import ConfigError

try:  # faiss is the ``ann`` extra
    import faiss
except ImportError:  # pragma: no cover - exercised only where faiss is missing
    faiss = None

__all__ = ["faiss_index", "ivf_vectors", "search_params"]


def faiss_index(spec: Any, n: int, dim: int, x: np.ndarray) -> tuple[Any, int | None]:
    """(the empty, trained faiss index of ``spec.kind`` for ``n`` x ``dim`` vectors ``x``, IVF's nlist or None)."""
    if spec.kind == "ivf":
        return _ivf(spec, n, dim, x)
    return _BUILDERS[spec.kind](spec, dim, x), None


def _exact(spec: Any, dim: int, x: np.ndarray) -> Any:
    return faiss.IndexFlatIP(dim)


def _hnsw(spec: Any, dim: int, x: np.ndarray) -> Any:
    index = faiss.IndexHNSWFlat(dim, int(spec.M), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(spec.ef_construction)
    index.hnsw.efSearch = int(spec.ef_search)
    return index


def _pq(spec: Any, dim: int, x: np.ndarray) -> Any:
    m = int(spec.pq_m or dim)
    if dim % m:
        raise ConfigError(f"pq_m={m} does not divide the dimension {dim}; use a divisor such as {dim}")
    index = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
    index.train(x)
    return index


def _ivf(spec: Any, n: int, dim: int, x: np.ndarray) -> tuple[Any, int]:
    nlist = spec.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
    if nlist > n:
        raise ConfigError(f"nlist={nlist} exceeds the {n} vectors to index; use nlist <= {max(1, n // 39)}")
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(spec.seed)
    index.train(x)
    index.nprobe = int(spec.nprobe)
    return index, nlist


_BUILDERS = {"exact": _exact, "hnsw": _hnsw, "pq": _pq}


def search_params(spec: Any, mask: np.ndarray | None, ef_search: int | None, nprobe: int | None,
                  k: int) -> tuple[Any, Any]:
    """faiss search parameters, and the bitmap they point to (the caller keeps it alive)."""
    kwargs: dict[str, Any] = {}
    bits = None
    if mask is not None:
        bits = np.packbits(mask, bitorder="little")
        kwargs["sel"] = faiss.IDSelectorBitmap(spec.n_, faiss.swig_ptr(bits))
    if spec.kind == "hnsw":
        # HNSW returns at most efSearch results: widen the beam when k is larger
        ef = max(int(ef_search or spec.ef_search), k)
        return faiss.SearchParametersHNSW(efSearch=ef, **kwargs), bits
    if spec.kind == "ivf":
        return faiss.SearchParametersIVF(nprobe=int(nprobe or spec.nprobe), **kwargs), bits
    return (faiss.SearchParameters(**kwargs) if kwargs else None), bits


def ivf_vectors(index: Any, n: int) -> np.ndarray:
    """Vectors of an IVF-Flat index in id order (needs a direct map, built on demand)."""
    index.make_direct_map()
    return index.reconstruct_n(0, n)
