"""Reading tables: polars/pandas DataFrames and CSV/TSV/Parquet files into polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from shortlist.errors import DataError

__all__ = ["to_polars", "read_table", "sniff_separator", "check_table_file", "TEXT_SUFFIXES", "PARQUET_SUFFIXES"]

TEXT_SUFFIXES = (".csv", ".tsv", ".dat", ".data", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SEP_NAMES = {",": "comma-separated text", "\t": "tab-separated text",
              ";": "semicolon-separated text"}


def to_polars(frame: Any) -> pl.DataFrame:
    """Accept a polars or pandas DataFrame and return a polars one."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if type(frame).__module__.startswith("pandas") and hasattr(frame, "columns"):
        return pl.from_pandas(frame.reset_index(drop=True))
    raise DataError(
        f"expected a polars or pandas DataFrame, got {type(frame).__name__}; "
        "for a scipy matrix use Interactions.from_matrix"
    )


def check_table_file(path: str | Path) -> Path:
    """Raise DataError unless ``path`` is a non-empty file with a table extension."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV/TSV/Parquet file or a dataset folder via --data")
    if path.suffix.lower() not in TEXT_SUFFIXES + PARQUET_SUFFIXES:
        raise DataError(
            f"cannot tell the format of {path.name!r} from its extension "
            f"{path.suffix or '(none)'!r}; save it as .csv, .tsv or .parquet (or rename a "
            "comma-separated text file to .csv)"
        )
    if path.stat().st_size == 0:
        raise DataError(
            f"{path} is empty (0 bytes): nothing to load; give a file with a header row and one "
            "row per interaction (user, item, ...)"
        )
    return path


def sniff_separator(path: Path, default: str) -> str:
    """The separator of a text table: ``default`` unless its first line has none of it but another.

    Spreadsheets in many locales export ``.csv`` with semicolons, and tab-separated files are
    often saved as ``.csv``; the header line tells which (the candidate found most often wins).
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    if default in first:
        return default
    counts = {c: first.count(c) for c in (",", "\t", ";", "|") if c != default}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else default


def read_table(path: str | Path, *, sep: str | None = None, has_header: bool = True) -> pl.DataFrame:
    """Read CSV / TSV / Parquet by extension (``.csv``, ``.tsv``, ``.dat``, ``.parquet``).

    Every failure is a :class:`DataError` naming the file, the problem and the fix: an
    empty file, a header without rows, an unknown extension, or text polars cannot parse.
    """
    path = check_table_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            df = pl.read_parquet(path)
        else:
            if sep is None:
                sep = sniff_separator(path, "\t" if suffix in (".tsv", ".dat", ".data") else ",")
            df = pl.read_csv(path, separator=sep, has_header=has_header, infer_schema_length=10000)
    except pl.exceptions.NoDataError as exc:
        raise DataError(
            f"{path} holds no data ({exc}); give a file with a header row and one row per "
            "interaction"
        ) from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "Parquet" if suffix in PARQUET_SUFFIXES else _SEP_NAMES.get(sep or ",", repr(sep))
        raise DataError(
            f"could not parse {path} as {kind} ({exc}); check that the file is complete "
            "and matches its extension (.csv comma, .tsv/.dat tab, .parquet)"
        ) from exc
    if not has_header:  # polars versions differ (column_0 vs column_1); fix the 1-based names
        df.columns = [f"column_{i + 1}" for i in range(df.width)]
    else:  # "user, item" headers: a space after the separator is not part of the name
        stripped = [c.strip() for c in df.columns]
        if len(set(stripped)) == len(stripped):
            df.columns = stripped
    if df.height == 0:
        cols = ", ".join(df.columns)
        raise DataError(
            f"{path} has a header ({cols}) but no rows: nothing to learn from; add one row per "
            "interaction (or pass --no-header if that line is data)"
        )
    return df
