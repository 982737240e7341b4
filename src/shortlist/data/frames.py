"""Reading tables: polars/pandas DataFrames and CSV/TSV/Parquet files into polars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from shortlist.errors import DataError

__all__ = ["to_polars", "read_table"]


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


def read_table(path: str | Path, *, sep: str | None = None, has_header: bool = True) -> pl.DataFrame:
    """Read CSV / TSV / Parquet by extension (``.csv``, ``.tsv``, ``.dat``, ``.parquet``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV/TSV/Parquet file or a dataset folder via --data")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    if sep is None:
        sep = "\t" if suffix in (".tsv", ".dat", ".data") else ","
    if suffix not in (".csv", ".tsv", ".dat", ".data", ".txt"):
        raise DataError(
            f"cannot tell the format of {path.name!r} from its extension; use .csv, .tsv or .parquet"
        )
    try:
        df = pl.read_csv(path, separator=sep, has_header=has_header, infer_schema_length=10000)
    except pl.exceptions.ComputeError as exc:
        raise DataError(f"could not parse {path}: {exc}") from exc
    if not has_header:  # polars versions differ (column_0 vs column_1); fix the 1-based names
        df.columns = [f"column_{i + 1}" for i in range(df.width)]
    return df
