"""Entry point of the ``shortlist`` command: finds the command modules and dispatches.

Each module in this package that defines ``COMMAND`` (its name), ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` becomes a sub-command, so adding a
command never touches this file. Every error ends here, in :func:`_report`: one line on
stderr, a non-zero exit code and no traceback (``--traceback`` shows it, for bug reports).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

from shortlist.errors import ShortlistError

__all__ = ["main", "build_parser"]


def _command_modules() -> list[ModuleType]:
    import shortlist.cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name in ("main", "common"):
            continue
        mod = importlib.import_module(f"shortlist.cli.{info.name}")
        if hasattr(mod, "COMMAND"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.COMMAND)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse default prints usage)
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from shortlist.core.version import __version__

    parser = _Parser(prog="shortlist", description="Shortlist: a multi-stage recommender engine.")
    parser.add_argument("--version", action="version", version=f"shortlist {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="on an unexpected error, show the Python traceback (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.COMMAND, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _one_line(text: str) -> str:
    """Messages that span lines (nested causes, tables) joined so the error stays one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _report(exc: BaseException) -> int:
    """Print ``exc`` as one ``error:`` line on stderr and return the exit code."""
    if isinstance(exc, ShortlistError):
        message, code = str(exc), 2
    elif isinstance(exc, OSError):
        # a path the checks up front could not foresee (a permission, a disk full, a race)
        where = f": {exc.filename}" if exc.filename else ""
        message, code = f"{exc.strerror or exc}{where}", 2
    else:  # a bug: say so in one line; --traceback shows the rest
        message, code = (f"unexpected {type(exc).__name__}: {exc} (a bug in shortlist: rerun with "
                         "`shortlist --traceback ...` and report the output)"), 1
    print(f"error: {_one_line(message)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        return _report(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
