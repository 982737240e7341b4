"""The one-user-per-line sequence format: ``user item item item ...`` (no header).

This is the layout of the S3-Rec / ICLRec preprocessed datasets (e.g. ``Yelp.txt``): tokens
are separated by spaces, the first token of a line is the user, the others are the items
in the order the user met them. A line's order becomes the row order of the loaded
events and ``timestamp`` stays ``None``, so :attr:`Interactions.event_order` (the row
position) gives each user's events in sequence order. Items repeated within a line are
repeated interactions (see :meth:`Interactions.from_frame`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from shortlist.data.dataset import Dataset
from shortlist.data.interactions import Interactions
from shortlist.data.weighting import Weighting
from shortlist.errors import DataError

__all__ = [
    "SEQUENCE_FORMAT", "looks_like_sequences", "read_sequences", "sequence_file", "load_sequences",
]

SEQUENCE_FORMAT = "sequence"
_SNIFF_BYTES = 1 << 16
_SNIFF_LINES = 200
# other separators mean a table (CSV, TSV, ...), not a space-separated sequence file
_TABLE_SEPARATORS = (",", "\t", ";", "|")
# files a dataset folder may hold besides its data
_DOC_SUFFIXES = (".md", ".rst", ".html", ".pdf", ".json", ".yaml", ".yml", ".sha256")


def looks_like_sequences(path: str | Path) -> bool:
    """Whether ``path`` starts like ``user item item ...`` lines of varying length.

    Checks the first lines: only spaces separate tokens, every line has a user and at
    least one item, and the token count varies between lines (a fixed count is a table).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = text.splitlines()
    if len(head) == _SNIFF_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    lines = [ln for ln in (x.strip() for x in lines[:_SNIFF_LINES]) if ln]
    if len(lines) < 2 or any(sep in ln for ln in lines for sep in _TABLE_SEPARATORS):
        return False
    counts = {len(ln.split()) for ln in lines}
    return min(counts) >= 2 and len(counts) > 1


def read_sequences(path: str | Path) -> pl.DataFrame:
    """Events of a sequence file as a ``user, item`` frame, in line and position order.

    Ids that are all integers become ``Int64``, otherwise they stay strings. A line with
    a user but no items adds nothing.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc}); re-save it as UTF-8") from exc
    tokens = (
        pl.DataFrame({"line": text.splitlines()})
        .with_columns(pl.col("line").str.strip_chars())
        .filter(pl.col("line") != "")
        .with_row_index("seq")
        .select("seq", pl.col("line").str.replace_all(r"\s+", " ").str.split(" ").alias("token"))
        .explode("token")
        .with_columns(pos=pl.int_range(pl.len()).over("seq"),
                      user=pl.col("token").first().over("seq"))
        .filter(pl.col("pos") > 0)
    )
    if tokens.height == 0:
        raise DataError(
            f"{path} has no 'user item item ...' lines with items; give one line per user: the "
            "user id, then the item ids in order, separated by spaces"
        )
    return pl.DataFrame({"user": _ids(tokens["user"]), "item": _ids(tokens["token"])})


def _ids(col: pl.Series) -> pl.Series:
    """``col`` as Int64 when every token is an integer, else as strings."""
    as_int = col.cast(pl.Int64, strict=False)
    return as_int if as_int.null_count() == 0 else col


def sequence_file(folder: str | Path) -> Path | None:
    """The one sequence ``.txt`` file of a folder that holds no other data file, else None."""
    files = [
        f for f in Path(folder).iterdir()
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() not in _DOC_SUFFIXES
        and not f.name.upper().startswith(("README", "LICENSE", "SOURCE"))
    ]
    if len(files) == 1 and files[0].suffix.lower() == ".txt" and looks_like_sequences(files[0]):
        return files[0]
    return None


def load_sequences(path: str | Path, *, weighting: Weighting | str | None = None) -> Dataset:
    """Load a sequence file (or a folder holding one) into a Dataset named after the file.

    No timestamps: the row order is the event order (``info["time"] == "row order"``).
    Without ``weighting``, repeated items count ("count", cell weight = number of visits).
    """
    path = Path(path)
    if path.is_dir():
        found = sequence_file(path)
        if found is None:
            raise DataError(f"{path} holds no single 'user item item ...' .txt file")
        path = found
    events = read_sequences(path)
    inter = Interactions.from_frame(events, user="user", item="item", weighting=weighting)
    dataset = Dataset(name=path.stem, interactions=inter, info={"format": SEQUENCE_FORMAT})
    return dataset.record_load_facts()
