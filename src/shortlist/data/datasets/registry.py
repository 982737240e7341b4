"""Known public datasets: where to download them, their checksums and their terms."""

from __future__ import annotations

from dataclasses import dataclass, field

from shortlist.errors import ConfigError

__all__ = ["DatasetInfo", "DATASETS", "get_info"]


@dataclass(frozen=True)
class DatasetInfo:
    """One downloadable dataset: archive URL and sha256, file checksums, licence note.

    ``files`` maps file names to the sha256 of the copies Shortlist is tested against
    (see :func:`shortlist.data.datasets.verify_files`); ``archive_root`` is the folder
    the archive unpacks into (``None`` when its files sit at the top level).
    """

    name: str
    format: str
    title: str
    description: str
    url: str
    sha256: str | None
    size_bytes: int | None
    licence: str
    citation: str
    archive_root: str | None = None
    files: dict[str, str] = field(default_factory=dict)


_ML100K_FILES = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
}

_MLSMALL_FILES = {
    "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
    "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
    "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
    "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
}

_LASTFM_FILES = {
    "artists.dat": "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648",
    "tags.dat": "c815d7216101fd0ba9b9c59fa2a011998d2fd076e0064d281ec4153d95ae8095",
    "user_artists.dat": "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416",
    "user_friends.dat": "0360883a3557776e04fdebda851f2e5dd23e796cad7059b968acdebd528d13fa",
    "user_taggedartists.dat": "c4a9ffae9ab47a9f9b2f0678ab1f7e5c1db4ca818837d8cddd1f5699c5bbf048",
}

_GROUPLENS_TERMS = (
    "GroupLens research licence: non-commercial research use, cite Harper & Konstan 2015, "
    "no endorsement implied; {redistribution}"
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="ml-100k",
            format="ml-100k",
            title="MovieLens 100K",
            description="100,000 ratings (1-5) by 943 users on 1,682 movies, with demographics and genres",
            url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            size_bytes=4_924_029,
            licence=_GROUPLENS_TERMS.format(redistribution="no redistribution without permission"),
            citation="F. M. Harper, J. A. Konstan. The MovieLens Datasets: History and Context. ACM TiiS 5(4), 2015",
            archive_root="ml-100k",
            files=_ML100K_FILES,
        ),
        DatasetInfo(
            name="ml-latest-small",
            format="ml-latest-small",
            title="MovieLens Latest Small (2018 generation)",
            description="100,836 ratings (0.5-5) and 3,683 tags by 610 users on 9,742 movies",
            url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
            sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            size_bytes=978_202,
            licence=_GROUPLENS_TERMS.format(redistribution="redistribution only under the same terms"),
            citation="F. M. Harper, J. A. Konstan. The MovieLens Datasets: History and Context. ACM TiiS 5(4), 2015",
            archive_root="ml-latest-small",
            files=_MLSMALL_FILES,
        ),
        DatasetInfo(
            name="lastfm-2k",
            format="lastfm-2k",
            title="HetRec 2011 Last.fm 2K",
            description="92,834 user-artist play counts, 12,717 friendships and 186,479 tag assignments "
                        "from 1,892 users on 17,632 artists",
            url="https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
            sha256="6738f48195667ff03caaab4d32ca9a3133d8cc026b7c3cdaf6ce1010e913c59c",
            size_bytes=None,
            licence="Last.fm data for non-commercial use only; cite Last.fm and HetRec'11 "
                    "(Cantador, Brusilovsky, Kuflik, RecSys 2011)",
            citation="I. Cantador, P. Brusilovsky, T. Kuflik. 2nd Workshop on Information Heterogeneity "
                     "and Fusion in Recommender Systems (HetRec 2011), RecSys 2011",
            archive_root=None,
            files=_LASTFM_FILES,
        ),
    )
}


def get_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``, or a ConfigError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)} "
            "(see 'shortlist datasets list'), or give its archive with --url URL"
        ) from None
