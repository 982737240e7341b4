"""MovieLens loaders: the 100K release (``u.*`` files) and the CSV layout of ml-latest-small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from shortlist.data.dataset import Dataset
from shortlist.data.datasets._tables import (
    multi_matrix,
    positions,
    read_delimited,
    require_files,
    spread,
)
from shortlist.data.features import FeatureTable
from shortlist.data.interactions import Interactions
from shortlist.data.weighting import Weighting

__all__ = ["ML100K_FILES", "ML_LATEST_FILES", "load_ml100k", "load_ml_latest"]

ML100K_FILES = ("u.data", "u.item", "u.user", "u.genre")
ML_LATEST_FILES = ("ratings.csv", "movies.csv", "tags.csv")

# Every rating is a positive signal for top-N recommendation; "threshold:4" keeps only likes.
DEFAULT_WEIGHTING = "binary"
_NO_GENRE = "(no genres listed)"
_YEAR_IN_TITLE = r"\((\d{4})(?:[-–]\d{4})?\)\s*$"


def load_ml100k(folder: str | Path, *, weighting: Weighting | str | None = None) -> Dataset:
    """Load a MovieLens 100K folder: ratings, user demographics, movie titles/genres/years."""
    folder = Path(folder)
    require_files(folder, "ml-100k", ML100K_FILES)
    ratings = read_delimited(folder / "u.data", sep="\t", has_header=False,
                             columns=["user", "item", "rating", "timestamp"])
    inter = Interactions.from_frame(
        ratings, user="user", item="item", rating="rating", time="timestamp",
        weighting=DEFAULT_WEIGHTING if weighting is None else weighting,
    )

    users = read_delimited(folder / "u.user", sep="|", has_header=False, as_text=True,
                           columns=["user", "age", "gender", "occupation", "zip"])
    pos, keep = positions(inter.users, users["user"].cast(pl.Int64).to_numpy())
    n_users = inter.n_users
    user_features = FeatureTable(inter.users)
    user_features.add_numeric(
        "age", spread(n_users, pos, keep, users["age"].cast(pl.Float32, strict=False).to_numpy(), np.nan)
    )
    for col in ("gender", "occupation", "zip"):
        user_features.add_categorical(col, spread(n_users, pos, keep, users[col].to_numpy(), None))

    genres = _read_genres(folder / "u.genre")
    items = read_delimited(
        folder / "u.item", sep="|", has_header=False, as_text=True, encoding="latin-1",
        columns=["item", "title", "release", "video_release", "url", *genres],
    )
    pos, keep = positions(inter.items, items["item"].cast(pl.Int64).to_numpy())
    n_items = inter.n_items
    flags = items.select(pl.col(genres).cast(pl.Int8)).to_numpy()[keep]
    r, c = np.nonzero(flags)
    # keep all genres of u.genre as columns, in its order, even one no movie carries
    genre_matrix = sp.csr_matrix((np.ones(r.shape[0], np.float32), (pos[keep][r], c)),
                                 shape=(n_items, len(genres)))
    # release dates look like "01-Jan-1995"; one movie has none
    year = items["release"].str.slice(-4).cast(pl.Float32, strict=False).to_numpy()
    item_features = FeatureTable(inter.items)
    item_features.add_text("title", spread(n_items, pos, keep, items["title"].to_numpy(), ""))
    item_features.add_multi("genres", genre_matrix, genres)
    item_features.add_numeric("year", spread(n_items, pos, keep, year, np.nan))
    return Dataset(
        name="ml-100k", interactions=inter, user_features=user_features,
        item_features=item_features, info={"format": "ml-100k", "value": "rating 1-5"},
    )


def load_ml_latest(folder: str | Path, *, weighting: Weighting | str | None = None) -> Dataset:
    """Load a MovieLens CSV folder (ml-latest-small layout): ratings, titles, genres, years, tags."""
    folder = Path(folder)
    require_files(folder, "ml-latest-small", ML_LATEST_FILES)
    ratings = read_delimited(folder / "ratings.csv", sep=",", has_header=True, quoted=True)
    inter = Interactions.from_frame(
        ratings, user="userId", item="movieId", rating="rating", time="timestamp",
        weighting=DEFAULT_WEIGHTING if weighting is None else weighting,
    )
    n_items = inter.n_items

    movies = read_delimited(folder / "movies.csv", sep=",", has_header=True, quoted=True, as_text=True)
    pos, keep = positions(inter.items, movies["movieId"].cast(pl.Int64).to_numpy())
    year = movies["title"].str.strip_chars().str.extract(_YEAR_IN_TITLE, 1).cast(pl.Float32, strict=False)
    pairs = (
        movies.select(pl.col("movieId").cast(pl.Int64), pl.col("genres").str.split("|"))
        .explode("genres")
        .filter(pl.col("genres").is_not_null() & (pl.col("genres") != _NO_GENRE) & (pl.col("genres") != ""))
    )
    gpos, gkeep = positions(inter.items, pairs["movieId"].to_numpy())
    genre_matrix, genre_names = multi_matrix(
        n_items, gpos[gkeep], pairs["genres"].to_numpy()[gkeep], binary=True
    )

    tags = read_delimited(folder / "tags.csv", sep=",", has_header=True, quoted=True, as_text=True)
    tags = tags.select(
        pl.col("movieId").cast(pl.Int64), pl.col("tag").str.strip_chars().str.to_lowercase()
    ).filter(pl.col("tag").is_not_null() & (pl.col("tag") != ""))
    tpos, tkeep = positions(inter.items, tags["movieId"].to_numpy())
    # weight = how many times the tag was applied to the movie (a strength signal)
    tag_matrix, tag_names = multi_matrix(n_items, tpos[tkeep], tags["tag"].to_numpy()[tkeep], binary=False)

    item_features = FeatureTable(inter.items)
    item_features.add_text("title", spread(n_items, pos, keep, movies["title"].to_numpy(), ""))
    item_features.add_multi("genres", genre_matrix, genre_names)
    item_features.add_numeric("year", spread(n_items, pos, keep, year.to_numpy(), np.nan))
    item_features.add_multi("tags", tag_matrix, tag_names)
    return Dataset(
        name="ml-latest-small", interactions=inter, item_features=item_features,
        info={
            "format": "ml-latest-small",
            "value": "rating 0.5-5",
            "catalog_items": int(movies.height),
            "unrated_items_dropped": int(movies.height - keep.sum()),
        },
    )


def _read_genres(path: Path) -> list[str]:
    """Genre names of ``u.genre`` ("name|index" lines) in index order."""
    pairs = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            name, _, idx = line.rpartition("|")
            pairs.append((int(idx), name))
    return [name for _, name in sorted(pairs)]

