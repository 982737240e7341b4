"""Argparse ``type=`` checks for path options: a wrong path fails at parse time, in one line, before any work."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["event_log_file", "event_log_path", "existing_file", "model_folder", "out_folder", "refuse_model_overwrite"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


def existing_file(what: str) -> Callable[[str], str]:
    """A non-empty file described as ``what`` (e.g. "a pipeline TOML file") in the error."""

    def check(text: str) -> str:
        path = Path(text)
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{text!r} does not exist; give {what}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; give {what}")
        if path.stat().st_size == 0:
            raise argparse.ArgumentTypeError(f"{text!r} is empty (0 bytes); give {what}")
        return text

    return check


def model_folder(text: str) -> str:
    """A folder written by ``shortlist train`` / ``retrain`` (it holds ``pipeline.json``)."""
    path = Path(text)
    fix = "give a folder written by `shortlist train` or `shortlist retrain`"
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; {fix}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a model folder; {fix}")
    if not (path / "pipeline.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} holds no pipeline.json, so it is no model folder; {fix}")
    return text


def event_log_file(text: str) -> str:
    """An existing SQLite event log (a missing path would silently become a new, empty log)."""
    fix = "give the event log written by `shortlist serve` (default MODEL_DIR/events.sqlite)"
    text = existing_file(fix.removeprefix("give "))(text)
    with open(text, "rb") as fh:
        if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise argparse.ArgumentTypeError(f"{text!r} is not an SQLite file; {fix}")
    return text


def out_folder(text: str) -> str:
    """A folder to write to: it may be missing (it is created) but not an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; give a folder path (missing folders are created)")
    return text


def refuse_model_overwrite(folder: str | Path, option: str = "--out") -> str | None:
    """The one-line refusal when ``folder`` already holds a trained pipeline (a server may serve it), else None."""
    path = Path(folder)
    if not (path / "pipeline.json").is_file():
        return None
    return (f"{option} {str(folder)!r} already holds a trained pipeline (a server may be serving it); "
            f"pass --force to overwrite it, or write to a new folder and swap with POST /admin/reload")


def event_log_path(text: str) -> str:
    """Where an event log is or will be: a missing file is created, a folder or a non-SQLite file is refused."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file path for the SQLite event log "
                                         "(it is created when missing)")
    if path.is_file() and path.stat().st_size > 0:
        return event_log_file(text)
    return text
