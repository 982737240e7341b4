"""Dataset folder formats: detect which one a folder holds and load it into a Dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shortlist.data.dataset import Dataset
from shortlist.data.datasets._tables import require_files
from shortlist.data.datasets.lastfm import LASTFM_FILES, load_lastfm_2k
from shortlist.data.datasets.movielens import ML100K_FILES, ML_LATEST_FILES, load_ml100k, load_ml_latest
from shortlist.data.datasets.sequences import SEQUENCE_FORMAT, load_sequences, sequence_file
from shortlist.data.weighting import Weighting
from shortlist.errors import DataError, DatasetFormatError

__all__ = ["FORMATS", "detect_format", "load_dataset"]

Loader = Callable[..., Dataset]

# format -> (files that identify it, loader); the first file is the one that must exist
FORMATS: dict[str, tuple[tuple[str, ...], Loader]] = {
    "ml-100k": (ML100K_FILES, load_ml100k),
    "ml-latest-small": (ML_LATEST_FILES, load_ml_latest),
    "lastfm-2k": (LASTFM_FILES, load_lastfm_2k),
}


def _matches(folder: Path) -> tuple[list[str], list[str]]:
    """Formats whose files are all in ``folder``, and those with only their main file there."""
    full, partial = [], []
    for fmt, (files, _) in FORMATS.items():
        present = [(folder / f).is_file() for f in files]
        if all(present):
            full.append(fmt)
        elif present[0]:
            partial.append(fmt)
    return full, partial


def detect_format(path: str | Path) -> str:
    """Name of the format of a folder: "ml-100k", "ml-latest-small", "lastfm-2k" or "sequence".

    "sequence": the folder's only data file is a ``user item item ...`` .txt file (see
    :mod:`shortlist.data.datasets.sequences`); README/SOURCE and .md files are ignored.
    """
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"dataset folder not found: {folder}; fetch one with 'shortlist datasets fetch NAME --to DIR'")
    if not folder.is_dir():
        raise DatasetFormatError(
            f"{folder} is a file; give the folder that holds the dataset's files "
            "(for a single interactions file use Interactions.from_file)"
        )
    full, partial = _matches(folder)
    if full:
        return full[0]
    if partial:
        require_files(folder, partial[0], FORMATS[partial[0]][0])  # raises, naming what is missing
    if sequence_file(folder) is not None:
        return SEQUENCE_FORMAT
    looked = "; ".join(f"{fmt}: {', '.join(files)}" for fmt, (files, _) in FORMATS.items())
    looked += "; sequence: one 'user item item ...' .txt file"
    inside = sorted(
        f"{sub.name} ({_matches(sub)[0][0]})" for sub in folder.iterdir() if sub.is_dir() and _matches(sub)[0]
    )
    hint = f"; it has dataset subfolder(s) {', '.join(inside)} - give one of those" if inside else ""
    raise DatasetFormatError(
        f"unknown dataset format in {folder}: looked for the files of {looked}{hint}. Point at a "
        "folder with one of these layouts, or read your own file with Interactions.from_file"
    )


def load_dataset(path: str | Path, *, weighting: Weighting | str | None = None) -> Dataset:
    """Detect the format of a dataset folder and load it (``weighting=None``: the format's default).

    The result's ``info`` has ``values``, ``time`` and ``notes`` (see
    :meth:`Dataset.record_load_facts`).
    """
    fmt = detect_format(path)
    loader = load_sequences if fmt == SEQUENCE_FORMAT else FORMATS[fmt][1]
    return loader(Path(path), weighting=weighting).record_load_facts()
