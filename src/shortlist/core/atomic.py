"""Replace a folder atomically: write a temporary sibling, then swap it in with a rename.

A crash or an error while writing leaves the folder that was there before untouched (the
temporary sibling is removed on an error; one left by a killed process is a hidden
``.<name>.*.tmp`` folder that nothing reads). On Linux the swap is one ``renameat2`` call
with ``RENAME_EXCHANGE``, so a reader (a server polling the folder) never finds it missing;
elsewhere it is two renames, with the old folder put back if the second one fails.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from shortlist.errors import ModelFileError

__all__ = ["replace_folder"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def replace_folder(path: Path, write: Callable[[Path], object],
                   replaceable: Callable[[set[str]], bool]) -> Path:
    """Call ``write(tmp)`` on a new sibling folder of ``path``, then move it to ``path``.

    An existing ``path`` must be a folder for which ``replaceable(names of its entries)`` is
    true (an empty folder always is); otherwise nothing is written and
    :class:`~shortlist.errors.ModelFileError` says why.
    """
    path = Path(path)
    _check_replaceable(path, replaceable)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        write(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
    return path


def _check_replaceable(path: Path, replaceable: Callable[[set[str]], bool]) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise ModelFileError(f"{path} is a file; save to a folder path (a new one, or a saved folder to replace)")
    names = {p.name for p in path.iterdir()}
    if names and not replaceable(names):
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise ModelFileError(f"{path} holds other files ({shown}) and saving replaces the whole folder; "
                             "save to a new folder, or empty this one first")


def _swap_in(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path``; an existing ``path`` is replaced, and removed once replaced."""
    if not path.exists():
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):  # tmp now holds the old folder
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power loss (where directories can be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
