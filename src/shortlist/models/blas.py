"""One process-wide handle on the BLAS thread pool, for code that runs its own threads.

BLAS (OpenBLAS/MKL under numpy) and numba or Python worker threads must not both spin on
the same cores: kernels that parallelise themselves hold BLAS to one thread while they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_CONTROLLER: ThreadpoolController | None = None  # created once: scanning loaded libraries costs ~1 ms


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block, restored afterwards."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield
