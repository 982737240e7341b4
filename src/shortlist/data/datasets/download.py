"""Checksummed download of dataset archives: stream to a temp file, verify, rename, extract."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from shortlist import errors
from shortlist.data.datasets.registry import DATASETS, get_info
from shortlist.errors import ChecksumError, DatasetFormatError, DownloadError

__all__ = ["DownloadError", "fetch_dataset", "download_file", "sha256_of", "verify_files", "extract_zip"]

_CHUNK = 1 << 16

def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_hex(sha256: str) -> str:
    value = sha256.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise errors.ConfigError(
            f"sha256 must be 64 hex digits, got {sha256!r}; copy it from the publisher's page "
            "or compute it with 'sha256sum FILE'"
        )
    return value


def download_file(
    url: str, dest: str | Path, *, sha256: str | None = None, progress: bool | None = None,
    timeout: float = 60.0,
) -> Path:
    """Stream ``url`` into ``dest``, checking ``sha256``; ``dest`` exists only if all went well.

    The bytes go to a temporary file next to ``dest`` that is renamed on success and
    deleted on any failure, so an interrupted or corrupted download leaves nothing behind.
    """
    dest = Path(dest)
    expected = _check_hex(sha256) if sha256 else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        received = 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                          desc=dest.name, disable=None if progress is None else not progress) as bar:
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if total and received != int(total):
                raise DownloadError(
                    f"download of {url} was cut short: got {received} of {int(total)} bytes; "
                    "the partial file was deleted - retry"
                )
        except urllib.error.HTTPError as exc:
            raise DownloadError(
                f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the URL "
                "(--url) or download the archive by hand and load the extracted folder"
            ) from exc
        except DownloadError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"download of {url} failed: {reason}; check the URL and your network, or download "
                "the archive by hand and load the extracted folder"
            ) from exc
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; the file "
                "was deleted. Retry (the transfer may have been corrupted); if the publisher changed "
                "the archive, check it and pass its sha256 with --sha256"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def extract_zip(archive: str | Path, dest: str | Path) -> Path:
    """Extract a zip into folder ``dest``; a single top-level folder is unwrapped.

    Extraction goes to a temporary folder renamed at the end, and member paths that would
    escape ``dest`` (absolute or with ``..``) are refused.
    """
    archive, dest = Path(archive), Path(dest)
    if not zipfile.is_zipfile(archive):
        raise DatasetFormatError(f"{archive} is not a zip archive; give the URL of the dataset's .zip")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.startswith("__MACOSX/")]
            for name in names:
                p = PurePosixPath(name)
                if p.is_absolute() or ".." in p.parts:
                    raise DatasetFormatError(
                        f"{archive} has an unsafe member path {name!r}; refusing to extract it"
                    )
            zf.extractall(tmp, members=names)
        entries = [e for e in tmp.iterdir() if e.name != "__MACOSX"]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        os.replace(root, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def verify_files(path: str | Path, name: str) -> dict[str, str]:
    """Check the files of a dataset folder against the registry's sha256s; return name -> hash.

    Raises :class:`ChecksumError` naming the first file whose content differs and
    :class:`DatasetFormatError` when a listed file is missing.
    """
    folder, info = Path(path), get_info(name)
    out = {}
    for fname, expected in info.files.items():
        f = folder / fname
        if not f.is_file():
            raise DatasetFormatError(f"{folder} lacks {fname} of {name}; fetch the dataset again")
        actual = sha256_of(f)
        if actual != expected:
            raise ChecksumError(
                f"{f} differs from the reference copy of {name}: expected sha256 {expected}, got "
                f"{actual}; the file was modified or damaged - fetch the dataset again"
            )
        out[fname] = actual
    return out


def fetch_dataset(
    name: str, to_dir: str | Path, *, url: str | None = None, sha256: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Download, verify and extract a dataset into ``to_dir/name``; return that folder.

    ``name`` is a registry entry (``shortlist datasets list``) or any folder name when
    ``url`` is given. ``sha256`` defaults to the registry's archive checksum; without any,
    the download is not verified and a warning says so. An existing folder is reused.
    """
    info = DATASETS.get(name)
    if info is None and url is None:
        get_info(name)  # raises with the list of known names
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise errors.ConfigError(f"dataset name {name!r} must be a plain folder name, e.g. ml-100k")
    url = url or info.url
    sha256 = sha256 or (info.sha256 if info else None)
    to_dir = Path(to_dir)
    folder = to_dir / name
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    if not sha256:
        warnings.warn(
            f"no sha256 known for {url}: the download is not verified; pass sha256= (--sha256) "
            "to check it", stacklevel=2,
        )
    filename = PurePosixPath(urllib.parse.urlparse(url).path).name or f"{name}.zip"
    archive = download_file(url, to_dir / filename, sha256=sha256, progress=progress)
    if zipfile.is_zipfile(archive):
        try:
            extract_zip(archive, folder)
        finally:
            archive.unlink(missing_ok=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(archive, folder / filename)
    return folder
