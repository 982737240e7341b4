"""The exception tree of Shortlist.

Every error a user can cause derives from :class:`ShortlistError` and from the matching
built-in exception (``ValueError``, ``KeyError``, ...), so ``except ValueError`` keeps
working. Messages name the problem, the value received and the fix; the CLI prints them
in one line and the HTTP API returns them as a 4xx JSON body.
"""

from __future__ import annotations

__all__ = [
    "ShortlistError",
    "ConfigError",
    "DataError",
    "DatasetFormatError",
    "ChecksumError",
    "DownloadError",
    "UnknownIdError",
    "NotFittedError",
    "ModelFileError",
    "MemoryBudgetError",
]


class ShortlistError(Exception):
    """Base class of every error Shortlist raises on purpose."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(ShortlistError, ValueError):
    """A hyperparameter, option or config key has an invalid value."""


class DataError(ShortlistError, ValueError):
    """Input data is empty, malformed or inconsistent (columns, NaN, negative weights...)."""


class DatasetFormatError(DataError):
    """A dataset folder or file is of a format Shortlist does not recognise."""


class ChecksumError(ShortlistError, ValueError):
    """A downloaded or stored file does not match its expected sha256."""


class DownloadError(ShortlistError, OSError):
    """A download failed (HTTP error, unreachable host, interrupted transfer)."""


class UnknownIdError(ShortlistError, KeyError):
    """A user or item id was never seen by the vocabulary in use."""

    def __init__(self, message: str, ids: object = None) -> None:
        super().__init__(message)
        self.ids = ids


class NotFittedError(ShortlistError, RuntimeError):
    """A model or component was used before ``fit`` was called."""


class ModelFileError(ShortlistError, ValueError):
    """A saved model is missing, corrupted, or from an incompatible format version."""


class MemoryBudgetError(ShortlistError, MemoryError):
    """An operation would need more memory than its configured budget."""
