"""Keyword-only hyperparameters, shared by models, candidate sources and bandit policies."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

__all__ = ["KeywordParams"]


class KeywordParams:
    """``get_params`` and ``repr`` from the keyword-only arguments of ``__init__``.

    Subclasses store each keyword-only argument under its own name, as given (the
    scikit-learn convention), so parameters can be listed, saved as JSON and compared.
    """

    #: parameters left out of ``repr`` (e.g. long arm lists)
    _repr_skip: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """Parameters as given to ``__init__``."""
        return {n: getattr(self, n) for n in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k not in self._repr_skip)
        return f"{type(self).__name__}({args})"
