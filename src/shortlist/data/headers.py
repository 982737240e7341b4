"""Header rows of text tables: tell a first row of data from a header, and name header-less columns.

A header-less file's columns are called ``column_1``, ``column_2``, ... and ``--columns`` may
also name them by position (``user=1,item=2``). A first row of numbers only is data, not a
header, even without ``--no-header``: otherwise ``--columns user=1,item=10`` on such a file
would quietly take its first interaction as the column names.
"""

from __future__ import annotations

from pathlib import Path

from shortlist.errors import ConfigError

__all__ = ["resolve_header"]

_TAB_SUFFIXES = (".tsv", ".dat", ".data")
_TEXT_SUFFIXES = (".csv", ".tsv", ".dat", ".data", ".txt")


def _first_row(path: Path) -> list[str]:
    sep = "\t" if path.suffix.lower() in _TAB_SUFFIXES else ","
    with open(path, encoding="utf-8", errors="replace") as fh:
        line = fh.readline().rstrip("\r\n")
    return [cell.strip().strip('"').strip() for cell in line.split(sep)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_name(role: str, given: str, width: int, why: str) -> str:
    """``given`` ("3" or "column_3") as the polars name of a header-less column, checked against ``width``."""
    text = given.strip()
    number = text.removeprefix("column_")
    if not number.isdigit():
        raise ConfigError(f"--columns {role}={given}: {why}, so its columns have no names; name them by position "
                          f"1..{width} or column_1..column_{width}, e.g. --columns user=1,item=2")
    if not 1 <= int(number) <= width:
        raise ConfigError(f"--columns {role}={given}: the file has {width} columns; give a position from 1 to "
                          f"{width}")
    return f"column_{int(number)}"


def resolve_header(path: str | Path, columns: dict[str, str], has_header: bool) -> tuple[dict[str, str], bool, str]:
    """(columns as polars names, whether the file has a header row, a note on how columns were named or "")."""
    path = Path(path)
    if path.suffix.lower() not in _TEXT_SUFFIXES:
        return columns, has_header, ""  # Parquet: the names are in the file
    row = _first_row(path)
    if has_header and not (row and all(_is_number(cell) for cell in row)):
        return columns, True, ""
    shown = ", ".join(row[:6]) + (", ..." if len(row) > 6 else "")
    why = ("the file has no header row (--no-header)" if not has_header
           else f"the file's first row ({shown}) is all numbers, so it is data and the file has no header row")
    named = {role: _column_name(role, col, len(row), why) for role, col in columns.items()}
    names = ", ".join(f"column_{i}" for i in range(1, min(len(row), 6) + 1)) + (", ..." if len(row) > 6 else "")
    roles = ", ".join(f"{role}={col} (first value {row[int(col.removeprefix('column_')) - 1]})"
                      for role, col in named.items())
    return named, False, f"{why}: its {len(row)} columns are named {names}; using {roles}"
