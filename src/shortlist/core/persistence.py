"""Model folders: the one atomic, checksummed, versioned writer every ``save`` goes through.

A saved artefact is a tree of :class:`Part` objects. Each part is one folder holding:

* a manifest (``model.json``; a pipeline's root is ``pipeline.json``): its JSON ``meta``, the
  format and version, and the SHA-256 of every file and sub-part manifest;
* ``arrays.npz`` (numpy arrays, written and read with ``allow_pickle=False``) when it has arrays;
* named blobs (bytes or text: LightGBM's text model, a serialized faiss index, a report);
* sub-parts, one folder each (a pipeline's models, stages, index, dataset).

Each manifest also holds a checksum of its own content, and a parent checks each child's
manifest. So verifying a root verifies the whole tree: a corrupted or truncated file raises
:class:`~shortlist.errors.ModelFileError` that names the file, never a traceback or a silently
wrong model.
Saving writes the whole tree into a temporary sibling folder and then renames it into place,
so a crash part-way through leaves the previous folder as it was. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.core.atomic import replace_folder
from shortlist.errors import ModelFileError

__all__ = ["FORMAT", "FORMAT_VERSION", "META_FILE", "Part", "read_blob", "read_model_dir", "read_part",
           "write_model_dir", "write_part"]

FORMAT = "shortlist-model"
#: 2: parts, blobs and per-file checksums; 1: ``model.json`` + ``arrays.npz`` only (still read)
FORMAT_VERSION = 2
META_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
#: manifest keys the writer owns; a part's own meta may not use them
RESERVED = frozenset({"format", "format_version", "files", "blobs", "parts", "manifest_sha256",
                      "arrays_sha256"})
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class Part:
    """One folder of a saved artefact: JSON meta, named arrays, named blobs and sub-parts."""

    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes | str] = field(default_factory=dict)
    parts: dict[str, Part] = field(default_factory=dict)

    def part(self, name: str, where: str = "") -> Part:
        """Sub-part ``name``, or a :class:`ModelFileError` saying it is missing."""
        if name not in self.parts:
            raise ModelFileError(f"saved folder {where or ''} has no part {name!r} (it has "
                                 f"{sorted(self.parts) or 'none'}); save it again with this version")
        return self.parts[name]


def write_model_dir(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], *,
                    blobs: dict[str, bytes | str] | None = None, parts: dict[str, Part] | None = None) -> Path:
    """Write one part (``meta`` + ``arrays`` [+ ``blobs``, ``parts``]) to folder ``path``; see :func:`write_part`."""
    return write_part(path, Part(dict(meta), dict(arrays), dict(blobs or {}), dict(parts or {})))


def read_model_dir(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a model folder written by :func:`write_model_dir`, verified."""
    part = read_part(path)
    return part.meta, part.arrays


def write_part(path: str | Path, part: Part, *, manifest: str = META_FILE) -> Path:
    """Write the tree ``part`` to folder ``path`` atomically (a temporary sibling, then a rename).

    An existing folder at ``path`` is replaced only when it is a saved folder itself (it has a
    manifest) or holds nothing but entries the tree writes; it stays intact if writing fails.
    """
    path = Path(path)
    _check_tree(part, str(path))
    manifests = {manifest, META_FILE, "pipeline.json"}
    replace_folder(path, lambda tmp: _write_tree(tmp, part, manifest),
                   replaceable=lambda names: bool(manifests & names) or names <= _top_names(part, manifest))
    return path


def read_part(path: str | Path, *, manifest: str = META_FILE) -> Part:
    """Read and verify the tree written by :func:`write_part` at ``path``."""
    path = Path(path)
    head = _read_manifest(path, manifest)
    if head["format_version"] == 1:
        return _read_v1(path, head)
    return _read_tree(path, head)


# -- writing ---------------------------------------------------------------------------
def _top_names(part: Part, manifest: str) -> set[str]:
    return {manifest, ARRAYS_FILE, *part.blobs, *(_dir_names(part).values())}


def _dir_names(part: Part) -> dict[str, str]:
    """Folder name of each sub-part: its name when that is a safe file name, else a slug."""
    out: dict[str, str] = {}
    taken = {ARRAYS_FILE, META_FILE, "pipeline.json", *part.blobs}
    for i, name in enumerate(part.parts):
        slug = name if _SAFE.match(name) else (re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".-") or "part")
        while slug in taken:
            slug = f"{slug}-{i}"
        taken.add(slug)
        out[name] = slug
    return out


def _check_tree(part: Part, where: str) -> None:
    """Refuse, before anything is written, what could not be read back without pickle."""
    clash = RESERVED & set(part.meta)
    if clash:
        raise ModelFileError(f"{where}: meta keys {sorted(clash)} are reserved for the file format; rename them")
    for key, arr in part.arrays.items():
        if np.asarray(arr).dtype == object:
            raise ModelFileError(f"{where}: array {key!r} has dtype object, which would need pickle; "
                                 "store strings as a fixed-width str array")
    for name, blob in part.blobs.items():
        if not _SAFE.match(name) or name in (META_FILE, ARRAYS_FILE, "pipeline.json"):
            raise ModelFileError(f"{where}: blob name {name!r} is not a plain file name; use letters, digits, '._-'")
        if not isinstance(blob, (bytes, bytearray, memoryview, str)):
            raise ModelFileError(f"{where}: blob {name!r} is a {type(blob).__name__}; give bytes or str")
    for name, sub in part.parts.items():
        _check_tree(sub, f"{where}/{name}")


def _write_tree(folder: Path, part: Part, manifest: str) -> str:
    """Write ``part`` into the new folder ``folder``; return the SHA-256 of its manifest."""
    folder.mkdir(exist_ok=True)
    files: dict[str, str] = {}
    if part.arrays:
        files[ARRAYS_FILE] = _write_file(folder / ARRAYS_FILE, lambda fh: np.savez(fh, **part.arrays))
    kinds: dict[str, str] = {}
    for name, blob in part.blobs.items():
        data = blob.encode("utf-8") if isinstance(blob, str) else bytes(blob)
        kinds[name] = "text" if isinstance(blob, str) else "bytes"
        files[name] = _write_file(folder / name, lambda fh, d=data: fh.write(d))
    parts = {name: {"dir": d, "sha256": _write_tree(folder / d, part.parts[name], META_FILE)}
             for name, d in _dir_names(part).items()}
    head = {**part.meta, "format": FORMAT, "format_version": FORMAT_VERSION, "files": files,
            "blobs": kinds, "parts": parts}
    try:
        head = json.loads(json.dumps(head, default=json_default))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{folder.name}: meta cannot be stored as JSON ({exc})") from None
    head["manifest_sha256"] = _head_digest(head)
    text = json.dumps(head, indent=2, sort_keys=True)
    return _write_file(folder / manifest, lambda fh: fh.write(text.encode("utf-8")))


def _write_file(path: Path, write: Any) -> str:
    """Write one file with ``write(fh)``, flushed to disk; return its SHA-256."""
    import os

    with open(path, "xb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return _sha256(path)


def json_default(obj: Any) -> Any:
    """JSON form of the numpy scalars/arrays, paths, sets and pydantic models found in meta."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _head_digest(head: dict[str, Any]) -> str:
    body = {k: v for k, v in head.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- reading ---------------------------------------------------------------------------
def _read_manifest(folder: Path, manifest: str) -> dict[str, Any]:
    """The checked manifest of ``folder``: format, version and (version 2) its own checksum."""
    path = folder / manifest
    if not path.is_file():
        raise ModelFileError(f"{folder} is not a saved Shortlist folder ({manifest} missing); "
                             "save one with .save(path)")
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is corrupted (not valid JSON: {exc}); save it again") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        fmt = head.get("format") if isinstance(head, dict) else None
        hint = (f"it was written by an earlier Shortlist layout ({fmt!r}); re-save it with this version "
                "(retrain it, e.g. `shortlist train`)" if isinstance(fmt, str) and fmt.startswith("shortlist-")
                else "save one with .save(path)")
        raise ModelFileError(f"{path} is not a Shortlist model file of this version: {hint}")
    version = head.get("format_version")
    if version not in (1, FORMAT_VERSION):
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ModelFileError(
            f"{folder} has model format version {version!r}, this Shortlist reads versions 1 to {FORMAT_VERSION}; "
            + ("install the newer release that wrote it, or retrain the model with this one" if newer
               else "retrain the model with this release"))
    if version == FORMAT_VERSION and head.get("manifest_sha256") != _head_digest(head):
        raise ModelFileError(f"{path} is corrupted (its checksum does not match its content); save it again")
    return head


def _verified(path: Path, expected: Any) -> None:
    if not path.is_file():
        raise ModelFileError(f"{path} is missing from a saved folder; save it again")
    if _sha256(path) != expected:
        raise ModelFileError(f"{path} is corrupted (checksum mismatch: truncated or changed); save it again")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} could not be read ({exc}); save it again") from None


def _read_tree(folder: Path, head: dict[str, Any]) -> Part:
    try:
        files, kinds, parts = dict(head["files"]), dict(head["blobs"]), dict(head["parts"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{folder}: manifest lacks its file list; save it again") from None
    for name, sha in files.items():
        if not _SAFE.match(str(name)):
            raise ModelFileError(f"{folder}: manifest names a file {name!r} outside the folder; save it again")
        _verified(folder / name, sha)
    arrays = _load_arrays(folder / ARRAYS_FILE) if ARRAYS_FILE in files else {}
    blobs: dict[str, bytes | str] = {}
    for name, kind in kinds.items():
        raw = (folder / name).read_bytes()
        blobs[name] = raw.decode("utf-8") if kind == "text" else raw
    subs = {}
    for name, entry in parts.items():
        sub = folder / str(entry.get("dir", ""))
        if not _SAFE.match(sub.name):
            raise ModelFileError(f"{folder}: manifest names a part folder outside the folder; save it again")
        _verified(sub / META_FILE, entry.get("sha256"))
        subs[name] = _read_tree(sub, _read_manifest(sub, META_FILE))
    meta = {k: v for k, v in head.items() if k not in RESERVED}
    return Part(meta, arrays, blobs, subs)


def read_blob(path: str | Path, name: str, *, manifest: str = META_FILE) -> bytes | str:
    """Blob ``name`` of the part at ``path``, checked against the manifest; nothing else is read.

    For one small file of a large tree (a report beside a pipeline) without loading its arrays.
    """
    path = Path(path)
    head = _read_manifest(path, manifest)
    kinds = head.get("blobs") if head["format_version"] != 1 else None
    if not isinstance(kinds, dict) or name not in kinds or not _SAFE.match(name):
        raise ModelFileError(f"{path} holds no {name!r} (its manifest does not list it)")
    _verified(path / name, dict(head.get("files") or {}).get(name))
    raw = (path / name).read_bytes()
    return raw.decode("utf-8") if kinds[name] == "text" else raw


def _read_v1(folder: Path, head: dict[str, Any]) -> Part:
    """A version-1 folder (``model.json`` + ``arrays.npz``, one checksum)."""
    _verified(folder / ARRAYS_FILE, head.get("arrays_sha256"))
    return Part({k: v for k, v in head.items() if k not in RESERVED}, _load_arrays(folder / ARRAYS_FILE))
