"""``GET /items/{id}/similar`` and ``GET /items/trending``."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request

from shortlist.serving.catalog import catalog_ids
from shortlist.serving.errors import error_responses
from shortlist.serving.schemas import ScoredItem, SimilarOut, TrendingOut

__all__ = ["router"]

router = APIRouter(prefix="/items", tags=["items"])


def _py(x: object) -> object:
    return x.item() if isinstance(x, np.generic) else x


@router.get("/trending", response_model=TrendingOut, responses=error_responses(422),
            summary="Most active items lately")
async def trending(request: Request, k: int = Query(10, ge=1, le=1000)) -> TrendingOut:
    """Items with the highest exponentially decayed event counts (online state), among the served catalog.

    Items that only events know (not yet in the served model version) are counted but not shown.
    """
    st = request.app.state
    vocab = st.holder.current.pipeline.items_
    items: list[ScoredItem] = []
    n = k
    while True:  # items outside the catalog take places in the state's top n: ask for more until k are found
        rows = st.state.trending(n)
        ids = catalog_ids(vocab, [i for i, _ in rows])
        items = [ScoredItem(item_id=i, score=s) for i, (_, s) in zip(ids, rows) if i is not None][:k]
        if len(items) >= k or len(rows) < n:
            break
        n *= 4
    return TrendingOut(items=items, half_life_s=st.settings.trending_half_life_s)


@router.get("/{item_id}/similar", response_model=SimilarOut, responses=error_responses(404, 409, 422),
            summary="Items similar to an item")
async def similar(item_id: str, request: Request, k: int = Query(10, ge=1, le=1000),
                  model: str | None = Query(None, max_length=128)) -> SimilarOut:
    """The ``k`` most similar items by the named model (default: the first model that defines similarity)."""
    mv = request.app.state.holder.current
    models = mv.pipeline.models_
    if model is not None and model not in models:
        raise HTTPException(status_code=404, detail=f"model={model!r} is not in the pipeline; "
                                                    f"choose one of {sorted(models)}")
    native = catalog_ids(mv.pipeline.items_, [item_id])[0]
    if native is None:
        raise HTTPException(status_code=404, detail=f"item_id={item_id!r} is unknown to model version "
                                                    f"{mv.version}")
    # factor models first: their cosine similarity is cheap and defined for every item
    names = [model] if model else sorted(models, key=lambda n: not hasattr(models[n], "item_factors_"))
    for name in names:
        try:
            rec = models[name].similar_items([native], k)
        except NotImplementedError:
            continue
        ok = rec.item_indices[0] >= 0
        ids, scores = rec.item_ids[0][ok], rec.scores[0][ok]
        items = [ScoredItem(item_id=_py(i), score=float(s)) for i, s in zip(ids, scores)]
        return SimilarOut(item_id=native, model=name, items=items, model_version=mv.version)
    raise HTTPException(status_code=409, detail=f"no model of this pipeline defines item similarity "
                                                f"(models: {sorted(models)}); add a factor or item-knn model")
