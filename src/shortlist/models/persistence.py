"""Model files: a folder with ``model.json`` (class, params, checksums) and ``arrays.npz``.

No pickle anywhere: arrays are stored with ``allow_pickle=False`` and everything else is
JSON, so loading a file cannot run code. A checksum of the arrays and a format version
catch corrupted files and files written by an incompatible release.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.errors import ModelFileError

__all__ = ["FORMAT_VERSION", "write_model_dir", "read_model_dir"]

FORMAT_VERSION = 1
META_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_model_dir(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``meta`` + ``arrays`` into folder ``path`` atomically (temp files, then rename)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ModelFileError(f"array {key!r} has dtype object, which would need pickle")
    fd, tmp_npz = tempfile.mkstemp(dir=path, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp_npz, "wb") as fh:
        np.savez(fh, **arrays)
    meta = dict(meta, format="shortlist-model", format_version=FORMAT_VERSION,
                arrays_sha256=_sha256(Path(tmp_npz)))
    fd, tmp_json = tempfile.mkstemp(dir=path, suffix=".json.tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True, default=_json_default)
    os.replace(tmp_npz, path / ARRAYS_FILE)
    os.replace(tmp_json, path / META_FILE)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_model_dir(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model folder written by :func:`write_model_dir`."""
    path = Path(path)
    meta_path, npz_path = path / META_FILE, path / ARRAYS_FILE
    if not meta_path.exists() or not npz_path.exists():
        raise ModelFileError(
            f"{path} is not a Shortlist model folder (expected {META_FILE} and {ARRAYS_FILE}); "
            "save one with model.save(path)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{meta_path} is corrupted (not valid JSON: {exc}); save the model again") from exc
    if meta.get("format") != "shortlist-model":
        raise ModelFileError(f"{meta_path} is not a Shortlist model file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}, this Shortlist reads version "
            f"{FORMAT_VERSION}; retrain the model with this release or install the release that wrote it"
        )
    if _sha256(npz_path) != meta.get("arrays_sha256"):
        raise ModelFileError(f"{npz_path} is corrupted (checksum mismatch); save or retrain the model again")
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise ModelFileError(f"{npz_path} could not be read ({exc}); save the model again") from exc
    return meta, arrays
