"""Real public datasets: format detection, loaders, a registry and checksummed download.

``load_dataset(folder)`` reads MovieLens 100K, MovieLens latest-small and HetRec Last.fm 2K
folders (and a folder holding one ``user item item ...`` sequence file) into a
:class:`~shortlist.data.Dataset`; ``fetch_dataset(name, to_dir)`` downloads
and verifies the public archive. The data's terms forbid redistribution, so Shortlist
never ships it: it reads a folder you downloaded.
"""

from shortlist.data.datasets.download import (
    DownloadError,
    download_file,
    extract_zip,
    fetch_dataset,
    sha256_of,
    verify_files,
)
from shortlist.data.datasets.formats import FORMATS, detect_format, load_dataset
from shortlist.data.datasets.lastfm import load_lastfm_2k
from shortlist.data.datasets.movielens import load_ml100k, load_ml_latest
from shortlist.data.datasets.registry import DATASETS, DatasetInfo, get_info
from shortlist.data.datasets.sequences import load_sequences, looks_like_sequences, read_sequences

__all__ = [
    "DATASETS",
    "FORMATS",
    "DatasetInfo",
    "DownloadError",
    "detect_format",
    "download_file",
    "extract_zip",
    "fetch_dataset",
    "get_info",
    "load_dataset",
    "load_lastfm_2k",
    "load_ml100k",
    "load_ml_latest",
    "load_sequences",
    "looks_like_sequences",
    "read_sequences",
    "sha256_of",
    "verify_files",
]
