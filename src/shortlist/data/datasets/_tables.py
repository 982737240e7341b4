"""Small helpers the loaders share: reading delimited files, aligning features to a vocab."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from shortlist.data.vocab import Vocab
from shortlist.errors import DatasetFormatError

__all__ = ["read_delimited", "positions", "spread", "multi_matrix", "require_files"]


def require_files(folder: Path, fmt: str, names: tuple[str, ...]) -> None:
    """Raise DatasetFormatError naming the files of ``fmt`` missing from ``folder``."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetFormatError(
            f"{folder} looks like a {fmt} folder but lacks {', '.join(missing)}; extract the "
            f"whole archive again or fetch it with 'shortlist datasets fetch {fmt} --to DIR' "
            "(for a lone interactions file use Interactions.from_file)"
        )


def read_delimited(
    path: Path,
    *,
    sep: str,
    has_header: bool,
    columns: list[str] | None = None,
    encoding: str = "utf-8",
    quoted: bool = False,
    as_text: bool = False,
) -> pl.DataFrame:
    """Read a delimited file with polars; latin-1 files are re-encoded to UTF-8 first.

    Quote characters are off unless ``quoted``: MovieLens and Last.fm ``.dat``/``|`` files
    contain stray ``"`` inside names that must stay literal.
    """
    source: Path | io.BytesIO = path
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        # polars reads only UTF-8; these files are small, so a full decode is cheap
        source = io.BytesIO(path.read_bytes().decode(encoding).encode("utf-8"))
    try:
        df = pl.read_csv(
            source,
            separator=sep,
            has_header=has_header,
            new_columns=columns,
            quote_char='"' if quoted else None,
            infer_schema=not as_text,
            infer_schema_length=10000,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise DatasetFormatError(
            f"could not parse {path} ({exc}); the file is damaged or not the original - "
            "compare it with 'shortlist datasets inspect FOLDER --verify'"
        ) from exc
    if columns is not None and df.width != len(columns):
        raise DatasetFormatError(
            f"{path} has {df.width} columns, expected {len(columns)} ({', '.join(columns)}); "
            "the file is damaged or from another dataset"
        )
    return df


def positions(vocab: Vocab, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each id in ``vocab`` and a mask of the ids it knows (others are dropped)."""
    pos = np.asarray(vocab.index(ids, missing="ignore"), dtype=np.int64)
    return pos, pos >= 0


def spread(n: int, pos: np.ndarray, keep: np.ndarray, values: np.ndarray, fill: object) -> np.ndarray:
    """Per-entity array of length ``n``: ``values`` at their rows, ``fill`` elsewhere."""
    values = np.asarray(values)
    dtype = np.float32 if isinstance(fill, float) else object
    out = np.full(n, fill, dtype=dtype)
    out[pos[keep]] = values[keep]
    return out


def multi_matrix(n: int, rows: np.ndarray, tokens: np.ndarray, *, binary: bool) -> tuple[sp.csr_matrix, list[str]]:
    """Entity x token CSR from (row, token) pairs; counts per cell unless ``binary``."""
    # polars codes strings ~10x faster than np.unique; both sort by code point
    s = pl.Series("token", tokens, dtype=pl.String)
    names = s.unique().sort().to_list()
    cols = (s.rank("dense").to_numpy() - 1).astype(np.int64) if s.len() else np.zeros(0, np.int64)
    m = sp.csr_matrix(
        (np.ones(rows.shape[0], np.float32), (rows, cols)), shape=(n, len(names))
    )
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m, names
