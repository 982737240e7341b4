"""Scale past one machine on Ray: blocked ALS and batch recommendations for every user.

Needs the ``ray`` extra (``pip install 'shortlist[ray]'``); nothing else in shortlist
imports this package at module level, so the engine works without Ray.
"""

from shortlist.distributed.cluster import KillOnce, connected

__all__ = ["KillOnce", "connected", "fit_als"]


def fit_als(*args, **kwargs):
    """Fit an ALS model on the connected Ray cluster (see :func:`shortlist.distributed.als.fit_als`)."""
    from shortlist.distributed.als import fit_als as _fit_als

    return _fit_als(*args, **kwargs)
