"""Building :class:`~shortlist.data.interactions.Interactions` from a DataFrame or a table file.

``Interactions.from_frame`` / ``from_file`` come here: the columns are checked, rows are
filtered (low ratings, exact duplicates), ids become vocabulary indices, repeated ratings
keep the latest, and each step that changes the rows adds a line to ``load_info["notes"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting
from shortlist.errors import ConfigError, DataError

__all__ = ["interactions_from_file", "interactions_from_frame"]


def interactions_from_frame(
    cls: Any,
    frame: Any,
    *,
    user: str,
    item: str,
    value: str | None,
    rating: str | None,
    time: str | None,
    event: str | None,
    weighting: Weighting | str | None,
    drop_duplicates: bool,
    min_rating: float | None,
    users: Vocab | None,
    items: Vocab | None,
) -> Any:
    """``cls`` (Interactions) built from ``frame``: see ``Interactions.from_frame`` for the rules."""
    from shortlist.data.frames import to_polars

    df = to_polars(frame)
    strength, cols = _check_columns(df, user=user, item=item, value=value, rating=rating, time=time, event=event)
    notes: list[str] = []
    df = _drop_missing(df, cols, notes)
    if min_rating is not None:
        df = _drop_low_ratings(df, rating, min_rating, notes)
    if drop_duplicates:
        df = _drop_exact_duplicates(df, cols, notes)
    users, u_idx = _indexed(_id_values(df[user]), users, "user")
    items, i_idx = _indexed(_id_values(df[item]), items, "item")
    vals = df[strength].cast(float).to_numpy() if strength else None
    ts = _to_epoch_seconds(df[time]) if time else None
    ev, ev_names = _event_types(df, event)
    keys = np.asarray(u_idx, np.int64) * len(items) + np.asarray(i_idx, np.int64)
    if rating:
        vals = _shift_negative_ratings(vals, rating, notes)
        keep = _latest_rating_per_cell(keys, ts, notes)
        if keep is not None:
            u_idx, i_idx, vals = u_idx[keep], i_idx[keep], vals[keep]
            ts = None if ts is None else ts[keep]
            ev = None if ev is None else ev[keep]
        weighting = "value" if weighting is None else weighting
    else:
        weighting = _implicit_weighting(keys, weighting, notes, has_value=bool(value))
    inter = cls(users, items, u_idx, i_idx, vals, ts, ev, ev_names, weighting)
    inter.load_info = {"values": "ratings" if rating else "weights" if value else "none", "notes": notes}
    return inter


def interactions_from_file(cls: Any, path: str | Path, *, columns: Mapping[str, str] | None, sep: str | None,
                           has_header: bool, **kwargs: Any) -> Any:
    """``cls.from_frame`` over the table at ``path``; its errors are prefixed with the path."""
    from shortlist.data.frames import read_table

    columns = dict(columns or {})
    if "weight" in columns:
        if "value" in columns:
            raise DataError("columns name both weight= and value=; it is one role, keep one")
        columns["value"] = columns.pop("weight")
    unknown = set(columns) - {"user", "item", "value", "rating", "time", "event"}
    if unknown:
        raise DataError(
            f"unknown column role(s) {sorted(unknown)}; use user=, item=, rating=, value= "
            "(or weight=), time=, event="
        )
    df = read_table(path, sep=sep, has_header=has_header)
    try:
        return cls.from_frame(df, **columns, **kwargs)
    except DataError as exc:
        if type(exc) is not DataError:  # subclasses carry extra fields; leave them as they are
            raise
        raise DataError(f"{path}: {exc}") from exc


def _check_columns(df: Any, *, user: str, item: str, value: str | None, rating: str | None, time: str | None,
                   event: str | None) -> tuple[str | None, list[str]]:
    """(the strength column or None, the used columns); DataError on a missing, empty or bad column."""
    if value and rating:
        raise DataError(
            f"both value={value!r} and rating={rating!r} given; name one strength column: "
            "rating= for explicit ratings, value= (or weight=) for counts or weights"
        )
    wanted = {"user": user, "item": item, "value": value, "rating": rating, "time": time, "event": event}
    missing = [f"{role}={col!r}" for role, col in wanted.items() if col and col not in df.columns]
    if missing:
        raise DataError(
            f"column(s) not found: {', '.join(missing)}; the data has columns {df.columns}. "
            "Pass the right names, e.g. --columns user=userId,item=movieId"
        )
    if df.height == 0:
        raise DataError("the data is empty (0 rows): nothing to learn from")
    strength = value or rating
    cols = [c for c in (user, item, strength, time, event) if c]
    if strength:
        _check_numeric(df, strength, "rating" if rating else "value")
    return strength, cols


def _drop_missing(df: Any, cols: list[str], notes: list[str]) -> Any:
    """``df`` without rows that miss a value in ``cols`` (null, or NaN in a float column), with a note.

    Real exports have the odd blank cell; one such row must not stop a run of millions, and
    nothing may vanish silently, so the rows go and one line says how many and where.
    """
    import polars as pl

    def missing(c: str) -> Any:
        col = pl.col(c)
        return col.is_null() | col.is_nan() if df[c].dtype.is_float() else col.is_null()

    counts = {c: int(df.select(missing(c).sum()).item()) for c in cols}
    counts = {c: n for c, n in counts.items() if n}
    if not counts:
        return df
    mask = pl.any_horizontal([missing(c) for c in counts])
    kept = df.filter(~mask)
    dropped = df.height - kept.height
    where = ", ".join(f"{c!r} {n:,}" for c, n in counts.items())
    if kept.height == 0:
        raise DataError(f"every row misses a value (missing: {where}); fill the columns or name others with --columns")
    notes.append(f"dropped {dropped:,} rows with missing values ({_share(dropped, df.height)}; missing: {where})")
    return kept


def _id_values(col: Any) -> np.ndarray:
    """An id column's values; text ids lose surrounding spaces (" 42" and "42" are one id)."""
    import polars as pl

    if col.dtype == pl.String:
        col = col.str.strip_chars()
    return col.to_numpy()


def _indexed(values: np.ndarray, vocab: Vocab | None, what: str) -> tuple[Vocab, np.ndarray]:
    """(vocabulary, indices) of ``values``: a new vocabulary, or indices in the given one."""
    if vocab is None:
        return Vocab.from_values(values)
    return vocab, vocab.index(values, what=what)


def _event_types(df: Any, event: str | None) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """(event type index per row, the type names) of the ``event`` column, or (None, ())."""
    if not event:
        return None, ()
    ev_vocab, ev = Vocab.from_values(df[event].cast(str).to_numpy())
    return ev, tuple(ev_vocab.ids.tolist())


def _latest_rating_per_cell(keys: np.ndarray, ts: np.ndarray | None, notes: list[str]) -> np.ndarray | None:
    """Mask keeping each (user, item) cell's latest rating, with a note; None when no cell repeats."""
    n_rows = keys.size
    keep = _latest_per_cell(keys, ts)
    n_rep = int(n_rows - keep.sum())
    if not n_rep:
        return None
    by = "time" if ts is not None else "row order"
    notes.append(
        f"{n_rep:,} repeated user-item ratings ({_share(n_rep, n_rows)}): kept the "
        f"latest rating of each pair (by {by})"
    )
    return keep


def _implicit_weighting(keys: np.ndarray, weighting: Weighting | str | None, notes: list[str], *,
                        has_value: bool) -> Weighting | str:
    """The weighting of implicit data ("count" with repeated cells, else "binary", unless given), with a note."""
    n_rows = keys.size
    n_rep = int(n_rows - np.unique(keys).size)
    if weighting is None:
        weighting = "count" if n_rep else "binary"
    if n_rep:
        notes.append(_repeat_note(n_rep, n_rows, Weighting.parse(weighting), has_value=has_value))
    return weighting


_REPEAT_EFFECT = {
    "count": "cell weight = number of events",
    "value": "cell weight = sum of their values",
    "log": "cell weight = log(1 + sum of their values)",
    "time-decay": "cell weight = time-decayed sum of their values",
    "binary": "all events kept, but weighting binary gives each user-item pair weight 1",
    "threshold": "all events kept; weighting threshold keeps a pair whose largest value reaches it",
}


def _share(n: int, total: int) -> str:
    """``n`` as a percentage of ``total`` for notes ("1.2 %", "< 0.1 %")."""
    pct = 100.0 * n / max(total, 1)
    return "< 0.1 %" if 0 < pct < 0.05 else f"{pct:.1f} %"


def _repeat_note(n_rep: int, n_rows: int, weighting: Weighting, *, has_value: bool) -> str:
    """The note line on repeated (user, item) rows of implicit data under ``weighting``."""
    line = (f"{n_rep:,} repeated user-item rows ({_share(n_rep, n_rows)}) counted as repeated "
            f"interactions: {_REPEAT_EFFECT[weighting.kind]}")
    if has_value and weighting.kind == "count":
        line += " (weighting value or log uses the weight column instead)"
    return line


def _check_numeric(df: Any, col: str, role: str) -> None:
    """Raise DataError naming a non-numeric value of ``col`` (the ``role`` column)."""
    import polars as pl

    if df[col].dtype.is_numeric():
        return
    parsed = df[col].cast(pl.Float64, strict=False)
    bad = df[col].filter(parsed.is_null() & df[col].is_not_null())
    example = f" (e.g. {bad[0]!r})" if bad.len() else ""
    raise DataError(
        f"{role} column {col!r} has type {df[col].dtype}{example}, expected numbers; fix or drop "
        f"the non-numeric rows, or name the right column with --columns ...,{role}=COL"
    )


def _drop_low_ratings(df: Any, rating: str | None, min_rating: float, notes: list[str]) -> Any:
    """Rows of ``df`` whose ``rating`` is at least ``min_rating``; adds a note on the rest."""
    import polars as pl

    if not rating:
        raise ConfigError(
            f"min_rating={min_rating:g} needs a rating column, but none is named; mark it as "
            f"ratings with --columns ...,rating=COL (Python: rating='COL'), or drop --min-rating"
        )
    kept = df.filter(pl.col(rating) >= min_rating)
    dropped = df.height - kept.height
    if kept.height == 0:
        raise DataError(
            f"no rows have {rating} >= {min_rating:g} (ratings range {df[rating].min()}.."
            f"{df[rating].max()}); lower --min-rating"
        )
    share = _share(dropped, df.height)
    notes.append(f"dropped {dropped:,} rows with rating < {min_rating:g} ({share})")
    return kept


def _drop_exact_duplicates(df: Any, cols: list[str], notes: list[str]) -> Any:
    """``df`` with one row of each group of rows equal in ``cols``; adds a note with the count."""
    kept = df.unique(subset=cols, keep="first", maintain_order=True)
    dropped = df.height - kept.height
    notes.append(
        f"dropped {dropped:,} exact duplicate rows ({_share(dropped, df.height)}), keeping one of "
        "each (--drop-duplicates)"
    )
    return kept


def _latest_per_cell(keys: np.ndarray, ts: np.ndarray | None) -> np.ndarray:
    """Mask of the row holding each cell's latest event (by time; ties and no time: last row)."""
    row = np.arange(keys.size)
    order = np.lexsort((row, keys)) if ts is None else np.lexsort((row, ts, keys))
    skeys = keys[order]
    last = np.r_[skeys[1:] != skeys[:-1], True] if skeys.size else np.zeros(0, bool)
    keep = np.zeros(keys.size, bool)
    keep[order[last]] = True
    return keep


def _shift_negative_ratings(vals: np.ndarray, rating: str, notes: list[str]) -> np.ndarray:
    """Ratings on a scale below zero (e.g. -10..10), shifted so the lowest weighs 1, with a note.

    Ratings become confidence weights, which cannot be negative; a shift keeps every rated item
    (a rating is still an interaction) and keeps the order of preference between them.
    """
    low = float(np.nanmin(vals)) if vals.size else 0.0
    if low >= 0:
        return vals
    notes.append(f"ratings in {rating!r} run from {low:g} to {float(np.nanmax(vals)):g}: weights are rating "
                 f"- ({low:g}) + 1, so every rated item counts and higher ratings count more "
                 "(use --min-rating to keep only the liked ones)")
    return vals - low + 1.0


def _to_epoch_seconds(col: Any) -> np.ndarray:
    """Timestamps as int64 seconds since the epoch (numbers pass through, datetimes convert)."""
    import polars as pl

    if col.dtype.is_temporal():
        return col.cast(pl.Datetime("us")).dt.epoch("s").to_numpy().astype(np.int64)
    if col.dtype.is_numeric():
        return col.cast(pl.Int64).to_numpy()
    try:
        return col.str.to_datetime().dt.epoch("s").to_numpy().astype(np.int64)
    except Exception as exc:  # polars raises several types for unparsable text
        for fmt in _DATE_FORMATS:  # the spreadsheet formats ISO inference does not read
            parsed = col.str.strip_chars().str.to_datetime(format=fmt, strict=False)
            if parsed.null_count() == col.null_count():
                return parsed.dt.epoch("s").to_numpy().astype(np.int64)
        raise DataError(
            f"time column {col.name!r} is neither numeric nor a parsable date ({exc}); give seconds "
            "since the epoch, ISO dates, or one of " + ", ".join(_DATE_FORMATS)
        ) from exc


#: day-first and month-first dates as spreadsheets export them; month-first is tried first (a file
#: whose days never pass 12 reads as month-first), and the first format that reads every value wins
_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
                 "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
                 "%d-%m-%Y %H:%M:%S", "%d-%m-%Y")
