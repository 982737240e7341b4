"""SourceStore: the expensive part of fitted sources, kept so a saved pipeline loads without refitting.

Building a 100k-item HNSW graph for a neighbour table or training product-quantization
codebooks takes tens of seconds; a served pipeline (and every ``--workers`` process, and
every hot swap) would otherwise redo it on load. Sources ask their context for such values
through :meth:`SourceContext.cached`; at fit time the store records them, ``Pipeline.save``
writes them under ``sources/``, and ``Pipeline.load`` hands them back.

Values are tuples of numpy arrays (one ``.npz``) or an :class:`~shortlist.retrieval.ann.ANNIndex`
(its own folder). No pickle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.errors import ModelFileError

__all__ = ["SourceStore"]

_FORMAT = "shortlist-source-store-v1"


def _slug(source: str, key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{source}.{key}")


class SourceStore:
    """Named values computed while fitting sources: recorded at fit, written and read back with a pipeline."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.folder = None if folder is None else Path(folder)
        self._index: dict[str, str] = {}
        if self.folder is not None:
            meta = self.folder / "store.json"
            try:
                info = json.loads(meta.read_text())
            except (OSError, ValueError) as exc:
                raise ModelFileError(f"{meta} is missing or unreadable ({exc}); retrain the pipeline") from None
            if info.get("format") != _FORMAT:
                raise ModelFileError(f"{meta} has format {info.get('format')!r}, expected {_FORMAT}; retrain")
            self._index = dict(info["entries"])

    def get(self, source: str, key: str, compute: Callable[[], Any]) -> Any:
        """The stored value of ``source``/``key``, or ``compute()`` (recorded for :meth:`save`)."""
        name = _slug(source, key)
        if name not in self.values:
            self.values[name] = self._read(name) if name in self._index else compute()
        return self.values[name]

    def _read(self, name: str) -> Any:
        kind, path = self._index[name], self.folder / name
        try:
            if kind == "ann":
                from shortlist.retrieval.ann import ANNIndex

                return ANNIndex.load(path)
            with np.load(self.folder / f"{name}.npz", allow_pickle=False) as z:
                return tuple(z[f"a{i}"] for i in range(len(z.files)))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"stored source state {path} is unreadable ({exc}); retrain the pipeline") from None

    def save(self, folder: str | Path) -> Path:
        """Write every recorded value under ``folder`` (``store.json`` lists them)."""
        from shortlist.retrieval.ann import ANNIndex

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = {}
        for name, value in self.values.items():
            if isinstance(value, ANNIndex):
                value.save(folder / name)
                entries[name] = "ann"
            else:
                arrays = value if isinstance(value, tuple) else (value,)
                np.savez(folder / f"{name}.npz", **{f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})
                entries[name] = "arrays"
        (folder / "store.json").write_text(json.dumps({"format": _FORMAT, "entries": entries}, indent=2))
        return folder
