"""Helpers the benchmark scripts share: a fitted-pipeline cache and the figures file."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cached_pipeline", "write_figures"]


def cached_pipeline(cache: Path, stamp: dict, fit: Callable[[], Any]) -> tuple[Path, float | None]:
    """``cache/model``, fitted by ``fit()`` unless a pipeline fitted from the same ``stamp`` is there.

    ``stamp`` names every input of the fit (config hash, data, seed): a different stamp
    refits. Returns (folder, fit seconds, or None when reused). The folder appears only
    once fully saved, so an interrupted fit is never reused.
    """
    folder, stamp_file = cache / "model", cache / "stamp.json"
    if stamp_file.exists() and (folder / "pipeline.json").exists() and json.loads(stamp_file.read_text()) == stamp:
        return folder, None
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    t0 = time.perf_counter()
    pipe = fit()
    seconds = time.perf_counter() - t0
    pipe.save(cache / "model.partial")
    (cache / "model.partial").rename(folder)
    stamp_file.write_text(json.dumps(stamp, indent=1))
    return folder, seconds


def write_figures(out: str | Path, name: str, figures: Any) -> Path:
    """Write ``figures`` as ``<out>/<name>.json`` and say where."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2))
    print(f"\nfigures: {path}")
    return path
