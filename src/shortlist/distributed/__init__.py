"""Scale past one machine on Ray: blocked ALS, two-tower on Ray Train, batch recommendations for every user.

Needs the ``ray`` extra (``pip install 'shortlist[ray]'``); nothing else in shortlist
imports this package at module level, so the engine works without Ray.
"""

from shortlist.distributed.cluster import KillOnce, connected
from shortlist.distributed.partitions import PartitionedEvents, write_partitioned

__all__ = ["KillOnce", "PartitionedEvents", "connected", "fit_als", "fit_two_tower", "on_ray", "recommend_all", "write_partitioned"]


def fit_als(*args, **kwargs):
    """Fit an ALS model on the connected Ray cluster (see :func:`shortlist.distributed.als.fit_als`)."""
    from shortlist.distributed.als import fit_als as _fit_als

    return _fit_als(*args, **kwargs)


def fit_two_tower(*args, **kwargs):
    """Train a TwoTower with Ray Train's TorchTrainer (see :func:`shortlist.distributed.two_tower.fit_two_tower`)."""
    from shortlist.distributed.two_tower import fit_two_tower as _fit_two_tower

    return _fit_two_tower(*args, **kwargs)


def on_ray(*args, **kwargs):
    """Fit a pipeline's ALS and two-tower models on Ray inside a ``with`` block (see :mod:`shortlist.distributed.engine`)."""
    from shortlist.distributed.engine import on_ray as _on_ray

    return _on_ray(*args, **kwargs)


def recommend_all(*args, **kwargs):
    """Top-k for every user of a saved pipeline, on Ray Data (see :mod:`shortlist.distributed.batch`)."""
    from shortlist.distributed.batch import recommend_all as _recommend_all

    return _recommend_all(*args, **kwargs)
