"""A fitted pipeline's folder: one tree of parts (data, models, sources, stages, tuning) under ``pipeline.json``.

:meth:`Pipeline.save <shortlist.pipeline.pipeline.Pipeline.save>` / ``load`` go through
:func:`pipeline_part` and :func:`load_pipeline`: atomic, checksummed, no pickle, no refitting.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.core.persistence import Part, read_part
from shortlist.data.dataset import Dataset
from shortlist.errors import ModelFileError
from shortlist.models.base import Recommender
from shortlist.pipeline.needs import Omission
from shortlist.pipeline.spec import parse_spec
from shortlist.pipeline.stages import build_stage
from shortlist.retrieval.sources.store import SourceStore

__all__ = ["PIPELINE_FILE", "load_pipeline", "pipeline_part"]

#: the root manifest of a saved pipeline folder (servers and the CLI look for it)
PIPELINE_FILE = "pipeline.json"


def pipeline_part(pipe: Any, previous: str | Path | None = None) -> Part:
    """The fitted pipeline ``pipe`` as one tree of parts: data, models, sources, stages (and tuning).

    ``previous`` is the folder being replaced: an Optuna journal the tuner left in its
    ``tuning/`` is kept in the new tree.
    """
    parts = {"data": pipe.dataset_.to_part(),
             "models": Part(parts={name: m.to_part() for name, m in pipe.models_.items()}),
             # neighbour tables and ANN indexes: loading then skips rebuilding them
             "sources": pipe.source_store_.to_part(),
             "stages": Part(parts={st.name: st.to_part() for st in pipe.stages_})}
    meta = {"pipeline": 2, "spec": pipe.spec.model_dump(exclude_unset=True),
            "omitted": [o.to_dict() for o in pipe.omitted_], "saved_at": time.time()}
    if getattr(pipe, "tuning_", None) is not None:
        meta["tuning"] = pipe.tuning_.summary()  # how the spec was chosen (every trial: tuning/)
        parts["tuning"] = pipe.tuning_.to_part(None if previous is None else Path(previous) / "tuning")
    return Part(json.loads(json.dumps(meta, default=str)), parts=parts)


def load_pipeline(cls: Any, folder: str | Path) -> Any:
    """A ``cls`` (the Pipeline class) loaded from a folder written by :func:`pipeline_part`."""
    folder = Path(folder)
    if not (folder / PIPELINE_FILE).is_file():
        raise ModelFileError(f"{folder} holds no pipeline ({PIPELINE_FILE} missing); run `shortlist train` first")
    part = read_part(folder, manifest=PIPELINE_FILE)
    meta = part.meta
    if meta.get("pipeline") != 2:
        raise ModelFileError(f"{folder} was written by an incompatible version; retrain it")
    pipe = cls(parse_spec(meta["spec"], origin=f"in {folder / PIPELINE_FILE}"))
    pipe.omitted_ = [Omission(**o) for o in meta.get("omitted", [])]
    pipe.tuning_summary_ = meta.get("tuning")
    dataset = Dataset.from_part(part.part("data", str(folder)), where=str(folder / "data"))
    saved = part.part("models", str(folder))
    models: dict[str, Recommender] = {}
    for name in pipe.spec.models:
        models[name] = _share_train(
            Recommender.from_part(saved.part(name, str(folder / "models")), where=f"model {name!r}"), models)
    pipe.stages_ = [build_stage(s, {}) for s in pipe.spec.stages]
    stages = part.part("stages", str(folder))
    for st in pipe.stages_:
        st.from_part(stages.part(st.name, str(folder / "stages")))
    store = SourceStore(part.part("sources", str(folder)))
    pipe._install(pipe.build_parts(dataset, models, store), dataset)
    pipe.version_ = folder.name
    return pipe


def _share_train(model: Recommender, loaded: dict[str, Recommender]) -> Recommender:
    """``model`` holding the training matrix of an already loaded model equal to its own, if any.

    A fit gives every model the same matrix object; each saved part keeps its own copy, so
    without this a loaded pipeline (every batch actor, every server) held one copy of the
    events per model (the MovieLens-20M-sized world: 160 MB each).
    """
    t = model.train_
    for other in loaded.values():
        o = other.train_
        if (o.shape == t.shape and o.nnz == t.nnz and o.dtype == t.dtype and np.array_equal(o.indptr, t.indptr)
                and np.array_equal(o.indices, t.indices) and np.array_equal(o.data, t.data)):
            model.train_ = o
            break
    return model
