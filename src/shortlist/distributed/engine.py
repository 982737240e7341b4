"""A pipeline's ``[cluster] engine = "ray"``: ALS and two-tower models fitted on Ray, the rest on the driver."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shortlist.data.interactions import Interactions
from shortlist.distributed.als import fit_als
from shortlist.distributed.cluster import connected
from shortlist.models.als import ALS
from shortlist.models.base import Recommender
from shortlist.pipeline.pipeline import Pipeline

__all__ = ["on_ray", "ray_fitter"]


def ray_fitter(blocks: int | None = None) -> Callable[[Recommender, Interactions, Any], Recommender]:
    """A ``Pipeline.model_fitter``: ALS and two-tower on the connected cluster, other models as usual."""

    def fit(model: Recommender, data: Interactions, progress: bool | None) -> Recommender:
        if isinstance(model, ALS):
            return fit_als(model, data, blocks=blocks, progress=progress).model
        if _is_two_tower(model):
            from shortlist.distributed.two_tower import fit_two_tower  # torch: only when a two-tower is fitted

            return fit_two_tower(model, data, progress=progress).model  # one worker per CPU of the cluster
        return model.fit(data, progress=progress)  # models without a distributed fit stay on the driver

    return fit


def _is_two_tower(model: Recommender) -> bool:
    # a TwoTower exists only once its module is imported: no torch import to ask the question
    module = sys.modules.get("shortlist.neural.two_tower")
    return module is not None and isinstance(model, module.TwoTower)


@contextmanager
def on_ray(pipeline: Pipeline, address: str | None = None) -> Iterator[Pipeline]:
    """Inside the block, ``pipeline.fit`` (and the tuner's final fit) fits its ALS and two-tower models on Ray.

    ``address`` overrides the spec's ``[cluster] address``; with neither, a running Ray
    session is used, else a local one is started for the block and shut down after it.
    """
    cluster = pipeline.spec.cluster
    with connected(address or cluster.address):
        pipeline.model_fitter = ray_fitter(cluster.blocks)
        try:
            yield pipeline
        finally:
            pipeline.model_fitter = None
