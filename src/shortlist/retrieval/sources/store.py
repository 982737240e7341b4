"""SourceStore: the expensive part of fitted sources, kept so a saved pipeline loads without refitting.

Building a 100k-item HNSW graph for a neighbour table or training product-quantization
codebooks takes tens of seconds; a served pipeline (and every ``--workers`` process, and
every hot swap) would otherwise redo it on load. Sources ask their context for such values
through :meth:`SourceContext.cached`; at fit time the store records them, ``Pipeline.save``
writes them under ``sources/``, and ``Pipeline.load`` hands them back.

Values are tuples of numpy arrays or an :class:`~shortlist.retrieval.ann.ANNIndex`, each one
sub-part of the store's part (:mod:`shortlist.core.persistence`). No pickle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.core.persistence import Part, read_part, write_part
from shortlist.errors import ModelFileError

__all__ = ["SourceStore"]

_FORMAT = "shortlist-source-store-v2"


def _slug(source: str, key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{source}.{key}")


class SourceStore:
    """Named values computed while fitting sources: recorded at fit, written and read back with a pipeline."""

    def __init__(self, part: Part | None = None) -> None:
        self.values: dict[str, Any] = {}
        self._part = part if part is not None else Part()
        if part is not None and part.meta.get("store") != _FORMAT:
            raise ModelFileError(f"stored source state has format {part.meta.get('store')!r}, expected {_FORMAT}; "
                                 "retrain the pipeline")

    def get(self, source: str, key: str, compute: Callable[[], Any]) -> Any:
        """The stored value of ``source``/``key``, or ``compute()`` (recorded for :meth:`save`)."""
        name = _slug(source, key)
        if name not in self.values:
            self.values[name] = self._read(name) if name in self._part.parts else compute()
        return self.values[name]

    def _read(self, name: str) -> Any:
        sub = self._part.parts[name]
        try:
            if sub.meta.get("value") == "ann":
                from shortlist.retrieval.ann import ANNIndex

                return ANNIndex.from_part(sub, where=f"stored source state {name!r}")
            return tuple(sub.arrays[f"a{i}"] for i in range(len(sub.arrays)))
        except KeyError as exc:
            raise ModelFileError(f"stored source state {name!r} lacks {exc}; retrain the pipeline") from None

    def to_part(self) -> Part:
        """Every recorded value as one sub-part (an ANN index's own part, or a tuple of arrays)."""
        from shortlist.retrieval.ann import ANNIndex

        parts = {}
        for name, value in self.values.items():
            if isinstance(value, ANNIndex):
                sub = value.to_part()
                sub.meta["value"] = "ann"
            else:
                arrays = value if isinstance(value, tuple) else (value,)
                sub = Part({"value": "arrays"}, {f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})
            parts[name] = sub
        return Part({"store": _FORMAT}, parts=parts)

    def save(self, folder: str | Path) -> Path:
        """Write every recorded value to ``folder`` through the model-folder writer."""
        return write_part(folder, self.to_part())

    @classmethod
    def load(cls, folder: str | Path) -> "SourceStore":
        """A store that hands back the values saved by :meth:`save` (computing the rest)."""
        return cls(read_part(folder))
