"""Moved to :mod:`shortlist.core.persistence` (so that ``data`` can save through it too)."""

from shortlist.core.persistence import FORMAT_VERSION, Part, read_model_dir, read_part, write_model_dir, write_part

__all__ = ["FORMAT_VERSION", "Part", "read_model_dir", "read_part", "write_model_dir", "write_part"]
