"""The package layering of ``src/shortlist``: no import goes up, and packages form a DAG.

Every module under ``src/shortlist`` is parsed with :mod:`ast`; every import of a
``shortlist.*`` module counts - at module level, inside functions and methods (lazy imports),
under ``if TYPE_CHECKING:`` - and so does a string constant naming a ``shortlist`` module
(``importlib.import_module(...)`` plugin discovery). Each import is mapped to its package
(``shortlist.<package>``) and must go to a package of a strictly lower rank in ``RANKS``,
or stay inside its own package.

The layers, bottom to top::

    errors, params (0) -> core (0.5) -> data (1) -> models (2) -> neural (2.5) -> retrieval (3)
    -> ranking (4) -> bandits (4.5) -> rules (5) -> evaluation (5.5) -> pipeline (6)
    -> distributed (6.5) -> online (7) -> serving (8) -> cli (9) -> the ``shortlist`` facade / ``__main__`` (10)

Placement of the packages beside the main line:

* ``neural`` (2.5) is an optional extra (PyTorch): it may import ``core``, ``errors``,
  ``params``, ``data`` and ``models`` only, so it can be installed and tested on its own.
  Upper layers reach it only through lazy imports inside functions (``ranking/deepfm.py``),
  never at module level (:func:`test_optional_extras_are_imported_lazily`), so that the
  core engine imports without torch.
* ``bandits`` (4.5) imports ``core/errors/params``, ``data`` and ``models`` (persistence,
  registry) and is imported by ``rules`` (the exploration slot), ``pipeline`` (slates) and
  ``cli``. Any rank in (2, 5) is consistent with the code; it sits just below its lowest
  user, ``rules``, so that the candidate-generation and ranking layers cannot grow a
  dependency on exploration policies.
* ``evaluation`` (5.5) imports ``data`` and ``models`` and is imported by ``pipeline``
  (``pipeline/evaluate.py`` runs the evaluation protocol) and ``cli``. Any rank in (2, 6)
  is consistent; it sits just below ``pipeline`` so that nothing from models to rules
  depends on the evaluator. What lower layers share with it (the metric kernels
  ``ranking_metrics``, ``hit_matrix``, ``query_ndcg``, the pydantic-error wording) lives in
  the ground floor, ``shortlist.core``.

* ``distributed`` (6.5) is an optional extra (Ray): blocked ALS over ``models`` and batch
  recommendations over a saved ``pipeline``, so it sits just above ``pipeline``; ``cli``
  reaches it only lazily (``shortlist train --ray``), so the engine imports without Ray.

The root package ``shortlist/__init__.py`` is a facade that re-exports from the layers;
nothing inside the package may import it (``__version__`` lives in ``shortlist.core``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "shortlist"

#: Rank of every package (and top-level module) of ``shortlist``; imports must go strictly down.
RANKS: dict[str, float] = {
    # ground floor: shared helpers every layer may import (errors and params import nothing
    # from shortlist; core raises the errors)
    "errors": 0,
    "params": 0,
    "core": 0.5,
    "data": 1,
    "models": 2,
    "neural": 2.5,  # optional extra (torch): may import core/errors/params, data, models only
    "retrieval": 3,
    "ranking": 4,
    "bandits": 4.5,
    "rules": 5,
    "evaluation": 5.5,
    "pipeline": 6,
    "distributed": 6.5,  # optional extra (Ray): ALS blocks on actors, batch recommendations
    "report": 6.5,  # the evaluation report: draws a fitted pipeline's per-stage lists (serving's UI reuses its charts)
    "online": 7,
    "serving": 8,
    "cli": 9,
    "__main__": 10,
    "": 10,  # the root facade shortlist/__init__.py
}

#: Packages with optional third-party dependencies: others import them only inside functions.
OPTIONAL_EXTRAS = {"neural", "distributed"}

#: The only imports allowed to go up, as (importing module, imported module): reason.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("shortlist.models.registry", "shortlist.neural"):
        "plugin discovery by name: importing shortlist.neural registers its models in the registry",
    ("shortlist.pipeline.stage_kinds", "shortlist.online.training.stage"):
        "plugin discovery by name: the online-fm stage serves the online trainer's FM and lives beside it",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "shortlist.rules.base"
    target: str  # the imported module, e.g. "shortlist.retrieval.types"
    line: int
    lazy: bool  # inside a function (or a string naming a module)
    dynamic: bool = False  # a string constant naming a module (importlib)

    @property
    def where(self) -> str:
        kind = "dynamic" if self.dynamic else "lazy" if self.lazy else "module-level"
        return f"{self.module}:{self.line} imports {self.target} ({kind})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _package(name: str) -> str:
    """``shortlist.rules.base`` -> ``rules``; ``shortlist`` -> ``""`` (the root facade)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports_of(path: Path) -> list[Import]:
    me = _module_name(path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []

    def add(target: str, line: int, lazy: bool, dynamic: bool = False) -> None:
        if target == "shortlist" or target.startswith("shortlist."):
            found.append(Import(me, target, line, lazy, dynamic))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno, lazy)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative import: resolve against this module's package
                    base = me.split(".") if is_pkg else me.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                for alias in child.names:  # `from shortlist import errors` imports a module
                    sub = f"{source}.{alias.name}"
                    add(sub if _is_module(sub) else source, child.lineno, lazy)
            elif (isinstance(child, ast.Constant) and isinstance(child.value, str)
                  and child.value.startswith("shortlist.") and _is_module(child.value)):
                add(child.value, child.lineno, True, dynamic=True)
            visit(child, inner)

    visit(tree, False)
    return found


def _all_imports() -> list[Import]:
    return [imp for path in sorted(ROOT.rglob("*.py")) for imp in _imports_of(path)]


IMPORTS = _all_imports()


def test_every_package_has_a_rank():
    packages = {_package(_module_name(p)) for p in ROOT.rglob("*.py")}
    assert packages - set(RANKS) == set(), "add the new package to RANKS (and justify it above)"
    assert set(RANKS) - packages == set(), "RANKS names a package that no longer exists"


def test_the_scan_sees_lazy_and_module_level_imports():
    # a guard against a scan that silently finds nothing
    assert any(not i.lazy for i in IMPORTS) and any(i.lazy and not i.dynamic for i in IMPORTS)
    assert len({i.module for i in IMPORTS}) > 50


def test_no_import_goes_up():
    upward = []
    for imp in IMPORTS:
        src, dst = _package(imp.module), _package(imp.target)
        if src == dst or RANKS[dst] < RANKS[src]:
            continue
        if any(imp.module == m and (imp.target == t or imp.target.startswith(t + "."))
               for m, t in ALLOWED_UPWARD):
            continue
        upward.append(f"{imp.where}: {src!r} (rank {RANKS[src]}) -> {dst!r} (rank {RANKS[dst]})")
    assert upward == [], "imports that go up a layer:\n" + "\n".join(upward)


def test_allow_list_entries_are_still_needed():
    for (module, target), reason in ALLOWED_UPWARD.items():
        assert reason.strip(), f"allow-list entry {module} -> {target} needs a reason"
        assert any(i.module == module and (i.target == target or i.target.startswith(target + "."))
                   for i in IMPORTS), f"stale allow-list entry: {module} no longer imports {target}"


def test_optional_extras_are_imported_lazily():
    eager = [i.where for i in IMPORTS
             if _package(i.target) in OPTIONAL_EXTRAS and _package(i.module) not in OPTIONAL_EXTRAS
             and not i.lazy and _package(i.module) != ""]
    assert eager == [], "optional extras imported at module level:\n" + "\n".join(eager)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None when it is a DAG."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


def test_packages_form_a_dag():
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        src, dst = _package(imp.module), _package(imp.target)
        if not imp.lazy and src != dst:
            graph[src].add(dst)
    cycle = _cycle(graph)
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", sorted(p for p in RANKS if p not in ("", "__main__")))
def test_modules_of_a_package_form_a_dag(package):
    """Inside a package, imports between modules go one way only (lazy ones included).

    The one exception: a function may import its own package's facade (the registries do,
    to register the built-in kinds) - by the time it runs, the package is fully imported.
    """
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if _package(imp.module) != package or _package(imp.target) != package:
            continue
        if imp.target == imp.module or (imp.lazy and imp.module.startswith(imp.target + ".")):
            continue
        graph[imp.module].add(imp.target)
    cycle = _cycle(graph)
    assert cycle is None, "module import cycle: " + " -> ".join(cycle or [])
