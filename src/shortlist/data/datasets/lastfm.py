"""Loader of the HetRec 2011 Last.fm 2K dataset: play counts, friendships, tags, artist names."""

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
from shortlist.data.vocab import Vocab
from shortlist.data.weighting import Weighting

__all__ = ["LASTFM_FILES", "load_lastfm_2k", "friends_matrix"]

LASTFM_FILES = ("user_artists.dat", "user_friends.dat", "user_taggedartists.dat", "tags.dat", "artists.dat")

# Play counts are heavy-tailed (1 .. 350k); log1p keeps a few obsessive listens from
# drowning every other signal while still ranking 100 plays above 1.
DEFAULT_WEIGHTING = "log"


def friends_matrix(users: Vocab, a: np.ndarray, b: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """Symmetric 0/1 users x users CSR of friend pairs; pairs with an unknown user are dropped.

    Returns the matrix and the number of (directed) rows dropped.
    """
    pa, ka = positions(users, a)
    pb, kb = positions(users, b)
    keep = ka & kb & (pa != pb)
    rows = np.concatenate([pa[keep], pb[keep]])
    cols = np.concatenate([pb[keep], pa[keep]])
    n = len(users)
    m = sp.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1.0  # a listed-twice friendship is still one friendship
    return m, int((~keep).sum())


def load_lastfm_2k(folder: str | Path, *, weighting: Weighting | str | None = None) -> Dataset:
    """Load a HetRec Last.fm 2K folder: play counts, social graph, artist tags and names."""
    folder = Path(folder)
    require_files(folder, "lastfm-2k", LASTFM_FILES)
    plays = read_delimited(folder / "user_artists.dat", sep="\t", has_header=True)
    inter = Interactions.from_frame(
        plays, user="userID", item="artistID", value="weight",
        weighting=DEFAULT_WEIGHTING if weighting is None else weighting,
    )
    n_items = inter.n_items

    friends = read_delimited(folder / "user_friends.dat", sep="\t", has_header=True)
    social, dropped = friends_matrix(
        inter.users, friends["userID"].to_numpy(), friends["friendID"].to_numpy()
    )

    tag_names = read_delimited(folder / "tags.dat", sep="\t", has_header=True, as_text=True,
                               encoding="latin-1")
    tag_names = tag_names.select(
        pl.col("tagID").cast(pl.Int64), pl.col("tagValue").str.strip_chars().str.to_lowercase()
    )
    tagged = read_delimited(folder / "user_taggedartists.dat", sep="\t", has_header=True)
    tagged = (
        tagged.select(pl.col("artistID").cast(pl.Int64), pl.col("tagID").cast(pl.Int64))
        .join(tag_names, on="tagID", how="inner")
        .filter(pl.col("tagValue").is_not_null() & (pl.col("tagValue") != ""))
    )
    tpos, tkeep = positions(inter.items, tagged["artistID"].to_numpy())
    # weight = number of users who gave the artist that tag
    tag_matrix, tokens = multi_matrix(n_items, tpos[tkeep], tagged["tagValue"].to_numpy()[tkeep],
                                      binary=False)

    artists = read_delimited(folder / "artists.dat", sep="\t", has_header=True, as_text=True)
    apos, akeep = positions(inter.items, artists["id"].cast(pl.Int64).to_numpy())
    item_features = FeatureTable(inter.items)
    item_features.add_text("name", spread(n_items, apos, akeep, artists["name"].to_numpy(), ""))
    item_features.add_multi("tags", tag_matrix, tokens)
    return Dataset(
        name="lastfm-2k", interactions=inter, item_features=item_features, social=social,
        info={
            "format": "lastfm-2k",
            "value": "play count",
            "friend_rows_dropped": dropped,
            "tag_assignments_dropped": int((~tkeep).sum()),
        },
    )
