"""One registry mechanism for every kind of component: models, sources, stages, rules, policies.

A :class:`Registry` maps a name (as written in a spec or on the command line) to a class::

    SOURCES = Registry("source kind", builtins="shortlist.retrieval.sources")

    @SOURCES.register("popular")
    class PopularSource(CandidateSource): ...

- registration by decorator (``register(name, **defaults)``; a name registered twice by two
  classes is an error; the class gets ``kind`` or ``name`` set to the registered name);
- built-ins are registered by importing one module on first lookup (``builtins``);
- optional modules (``optional``) hold components whose third-party dependency may be
  missing: they are imported on demand, and a name they would provide fails with
  "install extra X: pip install 'shortlist[X]'" instead of "unknown";
- an unknown name says "did you mean ...?" (:mod:`difflib`) and lists the valid names;
- :meth:`Registry.describe` gives the one-line listing used by ``shortlist models`` and friends.

The registry reads like a read-only mapping (``name in REG``, ``REG[name]``, iteration);
tests may add a kind with ``monkeypatch.setitem(REG, name, cls)``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from shortlist.errors import ConfigError

__all__ = ["Extra", "Registry", "check_known_keys", "summary_line"]


@dataclass(frozen=True)
class Extra:
    """Components in ``module`` that need the package extra ``extra`` (e.g. ``neural``)."""

    module: str
    extra: str
    #: names the module provides (so a lookup can say "install the extra" without importing it)
    names: tuple[str, ...] = ()


def summary_line(cls: Any) -> str:
    """The first line of ``cls``'s own docstring ("" when it has none)."""
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(MutableMapping[str, Any]):
    """Names -> component classes, with decorator registration, extras and suggestions.

    ``what`` names the kind in messages (``"model"``, ``"rule kind"``); ``attr`` is the class
    attribute that receives the registered name (``"kind"`` or ``"name"``; ``None``: none).
    """

    def __init__(self, what: str, *, builtins: str | None = None, attr: str | None = "kind",
                 optional: tuple[Extra, ...] = ()) -> None:
        self.what = what
        self.builtins = builtins
        self.attr = attr
        self.optional = optional
        self._classes: dict[str, Any] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        self._missing: dict[str, str] = {}  # name -> extra whose import failed

    # -- registration ----------------------------------------------------------------------
    def register(self, name: str, **defaults: Any) -> Callable[[Any], Any]:
        """Class decorator: make the class available under ``name`` (with preset parameters)."""

        def deco(cls: Any) -> Any:
            known = self._classes.get(name)
            if known is not None and known is not cls:
                raise ConfigError(f"{self.what} {name!r} is registered twice "
                                  f"({known.__name__} and {cls.__name__}); fix: rename one")
            self._classes[name] = cls
            self._defaults[name] = dict(defaults)
            if self.attr and not cls.__dict__.get(self.attr):
                setattr(cls, self.attr, name)
            return cls

        return deco

    def defaults(self, name: str) -> dict[str, Any]:
        """The preset parameters ``name`` was registered with (a copy)."""
        self.get_class(name)
        return dict(self._defaults.get(name, {}))

    # -- lookup ----------------------------------------------------------------------------
    def _load_builtins(self) -> None:
        if self.builtins:
            importlib.import_module(self.builtins)

    def _load_optional(self, only: str | None = None) -> None:
        for opt in self.optional:
            if only is not None and opt.names and only not in opt.names:
                continue
            try:
                importlib.import_module(opt.module)
            except ImportError:  # the extra is not installed: its names are offered as missing
                for n in opt.names:
                    self._missing.setdefault(n, opt.extra)

    def get_class(self, name: str) -> Any:
        """The class registered under ``name``; a clear :class:`ConfigError` otherwise."""
        if name not in self._classes:
            self._load_builtins()
        if name not in self._classes:
            self._load_optional(only=name)
        if name in self._classes:
            return self._classes[name]
        if name in self._missing:
            extra = self._missing[name]
            raise ConfigError(f"{self.what} {name!r} needs an optional dependency; fix: install extra "
                              f"{extra}: pip install 'shortlist[{extra}]'")
        valid = self.names()
        close = difflib.get_close_matches(str(name), valid, 1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown {self.what} {name!r}; fix: {hint}choose one of {', '.join(valid)}")

    def find(self, predicate: Callable[[str, Any], bool]) -> list[str]:
        """Registered names whose (name, class) satisfy ``predicate`` (all modules loaded)."""
        self.names()
        return [n for n, c in self._classes.items() if predicate(n, c)]

    def names(self, *, loaded_only: bool = False) -> list[str]:
        """Registered names, sorted (built-ins and installed optional modules included)."""
        if not loaded_only:
            self._load_builtins()
            self._load_optional()
        return sorted(self._classes)

    def missing(self) -> dict[str, str]:
        """Names an optional module would provide, and the extra to install for them."""
        self.names()
        return {n: e for n, e in sorted(self._missing.items()) if n not in self._classes}

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, class name, one-line summary) per registered name; listings print these."""
        return [(n, self._classes[n].__name__, summary_line(self._classes[n])) for n in self.names()]

    # -- mapping protocol (read like a dict; tests add kinds with monkeypatch.setitem) -------
    def __getitem__(self, name: str) -> Any:
        return self.get_class(name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The class under ``name``, or ``default`` when there is none (no error)."""
        try:
            return self.get_class(name)
        except ConfigError:
            return default

    def __setitem__(self, name: str, cls: Any) -> None:
        self._classes[name] = cls
        self._defaults.setdefault(name, {})

    def __delitem__(self, name: str) -> None:
        del self._classes[name]
        self._defaults.pop(name, None)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self._classes)} names)"


def check_known_keys(what: str, given: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
    """Raise a :class:`ConfigError` for the first key of ``given`` not in ``allowed`` (did you mean)."""
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), 1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{what} has no parameter {key!r} (value {given[key]!r}); fix: {hint}"
                              f"its parameters are {', '.join(sorted(allowed)) or 'none'}")
