"""``GET /items/{id}/similar`` and ``GET /items/trending``."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request

from shortlist.online.updater import usable_ids
from shortlist.serving.schemas import ScoredItem, SimilarOut, TrendingOut

__all__ = ["router"]

router = APIRouter(prefix="/items", tags=["items"])


def _native(item_id: str, as_int: bool) -> object:
    """Stored id strings back to integers for an integer item vocabulary."""
    return int(item_id) if as_int and usable_ids(_Int, [item_id]) else item_id


class _Int:  # stands for "an integer vocabulary" in usable_ids
    kind = "int"


def _py(x: object) -> object:
    return x.item() if isinstance(x, np.generic) else x


@router.get("/trending", response_model=TrendingOut, summary="Most active items lately")
async def trending(request: Request, k: int = Query(10, ge=1, le=1000)) -> TrendingOut:
    """Items with the highest exponentially decayed event counts (online state)."""
    st = request.app.state
    as_int = st.holder.current.pipeline.items_.kind == "int"
    rows = st.state.trending(k)
    return TrendingOut(items=[ScoredItem(item_id=_native(i, as_int), score=s)
                              for i, s in rows],
                       half_life_s=st.settings.trending_half_life_s)


@router.get("/{item_id}/similar", response_model=SimilarOut, summary="Items similar to an item")
async def similar(item_id: str, request: Request, k: int = Query(10, ge=1, le=1000),
                  model: str | None = Query(None, max_length=128)) -> SimilarOut:
    """The ``k`` most similar items by the named model (default: the first model that defines similarity)."""
    mv = request.app.state.holder.current
    models = mv.pipeline.models_
    if model is not None and model not in models:
        raise HTTPException(status_code=422, detail=f"model={model!r} is not in the pipeline; "
                                                    f"choose one of {sorted(models)}")
    if int(mv.pipeline.items_.index([item_id], missing="ignore")[0]) < 0:
        raise HTTPException(status_code=404, detail=f"item_id={item_id!r} is unknown to model version "
                                                    f"{mv.version}")
    # factor models first: their cosine similarity is cheap and defined for every item
    names = [model] if model else sorted(models, key=lambda n: not hasattr(models[n], "item_factors_"))
    for name in names:
        try:
            rec = models[name].similar_items([item_id], k)
        except NotImplementedError:
            continue
        ok = rec.item_indices[0] >= 0
        ids, scores = rec.item_ids[0][ok], rec.scores[0][ok]
        items = [ScoredItem(item_id=_py(i), score=float(s)) for i, s in zip(ids, scores)]
        return SimilarOut(item_id=item_id, model=name, items=items, model_version=mv.version)
    raise HTTPException(status_code=422, detail=f"no model of this pipeline defines item similarity "
                                                f"(models: {sorted(models)}); add a factor or item-knn model")
