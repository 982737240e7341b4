"""Checkpoint files: a snapshot of the memory state and the log position it holds, in one ``.npz`` (no pickle).

The file is written beside its target, fsynced and renamed over it, so a crash at any moment
leaves either the previous checkpoint or the new one, never half of one. Its ``meta`` (JSON
in a uint8 array) holds ``seq`` (every logged event up to it is in the snapshot, except the
``pending`` ones, which were committed but not yet applied when it was taken).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "load_checkpoint", "save_checkpoint"]

FORMAT = 1


def save_checkpoint(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> int:
    """Write ``arrays`` and ``meta`` to ``path`` atomically; returns the file's size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    blob = np.frombuffer(json.dumps({"format": FORMAT, **meta}).encode(), np.uint8)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, meta=blob, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:  # the rename itself must survive a power loss too
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - directories cannot be fsynced on some platforms
        pass
    return path.stat().st_size


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, meta) of a checkpoint, or None when there is none; a damaged file raises ``ValueError``."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"checkpoint {path} cannot be read ({exc})") from None
    if "meta" not in arrays:
        raise ValueError(f"checkpoint {path} has no meta entry")
    meta = json.loads(arrays.pop("meta").tobytes())
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}; this version reads {FORMAT}")
    return arrays, meta
