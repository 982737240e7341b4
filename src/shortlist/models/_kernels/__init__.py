"""numba hot loops (and nothing else); compiled once and cached on disk (``cache=True``)."""
