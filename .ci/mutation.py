"""Mutation testing of the core modules with cosmic-ray (`make mutation`, see docs/testing.md).

For each module: copy src/ and tests/ into build/mutation/<name>/ (the shared working tree is
never mutated), let cosmic-ray generate the mutants of that one file, and run only that
module's fast test files against each mutant (`pytest -x -m "not slow"`). The score is
killed / (all mutants) per module; survivors' diffs go to build/mutation/<name>/survivors.txt.

Speed: a pytest process pays ~1-2 s importing numpy, scipy, polars, numba and pytest before
the first test runs. A fork server imports those third-party libraries once and forks a
child per mutant that imports `shortlist` fresh (from the mutated copy) and runs pytest.

Operators: the conventional set (as PIT and mutmut define it), not cosmic-ray's full cross
product: each arithmetic/bitwise operator is replaced by its counterpart (+ -, * /, // /,
% /, ** *, @ *, & |, ^ &, << >>), each comparison by its boundary and its negation
(< <=, < >=, == !=, in/not in, is/is not), unary operators are deleted, plus number, boolean,
and/or, not, break/continue, zero-iteration-loop and exception mutations (no constant
replacement: PIT leaves its INLINE_CONSTS off by default too). Lines marked
`# pragma: no mutate` are skipped, and so are mutants inside type annotations of modules
with `from __future__ import annotations` (never evaluated: equivalent by construction).

Mutants on lines that no selected test executes (measured once with coverage.py) count as
survivors without a run. Not for numba kernels: coverage cannot see inside jitted code.

Usage: python .ci/mutation.py [MODULE ...] [--jobs N] [--timeout S] [--survivors] [--report]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "mutation"

#: module name -> (file, its test files); their slow tests are left out unless named in SLOW_TOO
MODULES: dict[str, tuple[str, list[str]]] = {
    "als-kernels": ("src/shortlist/models/_kernels/als.py", ["tests/models/test_als.py"]),
    "ease": ("src/shortlist/models/ease.py", ["tests/models/test_ease.py"]),
    "metrics": ("src/shortlist/core/metrics.py", ["tests/core/test_metrics.py", "tests/evaluation/test_metrics.py"]),
    "ope": ("src/shortlist/evaluation/ope.py", ["tests/evaluation/test_ope.py"]),
    "filters": ("src/shortlist/rules/filters.py", ["tests/rules/test_filters.py"]),
    "event-log": ("src/shortlist/online/event_log.py", ["tests/online/test_event_log.py"]),
    "linucb-kernels": ("src/shortlist/bandits/_kernels.py",
                       ["tests/bandits/test_linear_fast_paths.py", "tests/bandits/test_linear.py"]),
}

#: kernels run by the interpreter (NUMBA_DISABLE_JIT=1): the same code, without a minute of numba
#: compilation per mutant (the jitted build is what the regular suite tests)
NO_JIT = {"linucb-kernels", "als-kernels"}

#: selections replacing `-m "not slow"`: the lightgbm reward model is ope's only test of that branch
SLOW_TOO = {"ope": ["-k", "not obp"],
            # without JIT, numba's thread settings are not validated the same way: leave those two out
            "als-kernels": ["-m", "not slow", "-k", "not bad_params"]}

_KEEP_BINARY = {("Add", "Sub"), ("Sub", "Add"), ("Mult", "Div"), ("Div", "Mult"), ("FloorDiv", "Div"),
                ("Mod", "Div"), ("Pow", "Mult"), ("MatMult", "Mult"), ("BitAnd", "BitOr"), ("BitOr", "BitAnd"),
                ("BitXor", "BitAnd"), ("LShift", "RShift"), ("RShift", "LShift")}
_KEEP_COMPARE = {("Lt", "LtE"), ("Lt", "GtE"), ("LtE", "Lt"), ("LtE", "Gt"), ("Gt", "GtE"), ("Gt", "LtE"),
                 ("GtE", "Gt"), ("GtE", "Lt"), ("Eq", "NotEq"), ("NotEq", "Eq"), ("Is", "IsNot"),
                 ("IsNot", "Is"), ("In", "NotIn"), ("NotIn", "In")}
_PRELOAD = ("numpy", "scipy", "scipy.sparse", "scipy.linalg", "scipy.optimize", "scipy.special", "polars",
            "pyarrow", "numba", "pydantic", "sqlite3", "tqdm", "threadpoolctl", "pytest", "_pytest.python",
            "hypothesis", "pytest_timeout", "pandas")


def _kept(op: str) -> bool:
    name = op.split("/")[-1]
    if name.startswith("ReplaceBinaryOperator_"):
        return tuple(name.split("_")[1:3]) in _KEEP_BINARY
    if name.startswith("ReplaceComparisonOperator_"):
        return tuple(name.split("_")[1:3]) in _KEEP_COMPARE
    if name.startswith("ReplaceUnaryOperator_"):
        return name.startswith("ReplaceUnaryOperator_Delete_")
    # NumberReplacer (constant +-1: PIT's INLINE_CONSTS, off by default there too) is most of
    # cosmic-ray's mutants and mostly hits messages and defaults; VariableReplacer/Inserter swap
    # in arbitrary names; RemoveDecorator on an @njit kernel only makes it slower
    return name not in ("NumberReplacer", "VariableReplacer", "VariableInserter", "RemoveDecorator")


# -- the fork server ------------------------------------------------------------------------------
def serve(sock_path: str, workdir: str, timeout: float) -> None:
    """Import the heavy third-party libraries, then fork one pytest run per request."""
    import importlib

    args = json.loads(Path(workdir, "pytest-args.json").read_text())

    for mod in _PRELOAD:
        with contextlib.suppress(Exception):  # an optional library: the child imports what it needs
            importlib.import_module(mod)
    assert not any(m == "shortlist" or m.startswith("shortlist.") for m in sys.modules), "shortlist preloaded"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        with conn:
            if _recv(conn, 4) == b"stop":
                return
            conn.sendall(struct.pack("!i", _run_child(args, workdir, timeout)))


def _recv(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    return buf


def _run_child(args: list[str], workdir: str, timeout: float) -> int:
    pid = os.fork()
    if pid == 0:  # child: fresh `shortlist` from the mutated copy
        code = 3
        try:
            os.setpgid(0, 0)
            os.chdir(workdir)
            sys.path.insert(0, os.path.join(workdir, "src"))
            sys.path.insert(0, workdir)
            fd = os.open(os.path.join(workdir, "last-run.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            import pytest

            code = int(pytest.main(args))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.02)


def client(sock_path: str, what: str = "test") -> int:
    """Ask the server for one pytest run of the (mutated) copy: its exit code; or stop it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.sendall(what.encode())
        return 0 if what == "stop" else struct.unpack("!i", _recv(s, 4))[0]


# -- one module -----------------------------------------------------------------------------------
def _copy_tree(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def run_module(name: str, timeout: float, log, *, rerun: bool = False) -> dict:
    """Mutate one module and run its tests per mutant; ``rerun``: only last run's survivors, with the
    current tests/ (the mutated file stays the one copied at the first run, so mutant positions hold)."""
    path, tests = MODULES[name]
    work = OUT / name
    db = work / "session.sqlite"
    if rerun:
        if not db.exists():
            raise SystemExit(f"{name}: no earlier session to rerun in {work}")
        shutil.rmtree(work / "tests")
        shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        _copy_tree(work)
    if rerun and (work / "original.py").exists():
        shutil.copy2(work / "original.py", work / path)
    else:
        shutil.copy2(work / path, work / "original.py")
    sock = str(work / "fork.sock")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # missing shared data skips here, not fails
    env.update(PYTHONPATH=str(work / "src"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    if name in NO_JIT:
        env["NUMBA_DISABLE_JIT"] = "1"
    select = SLOW_TOO.get(name, ["-m", "not slow"])
    pytest_args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "pytest_timeout", *select, *tests]
    (work / "pytest-args.json").write_text(json.dumps(pytest_args))
    server = subprocess.Popen([sys.executable, __file__, "--serve", sock, str(work), str(timeout)], env=env)
    for _ in range(600):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    cmd = f"{sys.executable} {__file__} --client {sock}"
    cfg = work / "cosmic-ray.toml"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{path}"\n'
        f"timeout = {timeout + 30}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(cmd)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    cr = str(Path(sys.executable).parent / "cosmic-ray")
    t0 = time.monotonic()
    try:
        if client(sock) != 0:
            raise SystemExit(f"{name}: the tests fail on the unmutated copy; see {work / 'last-run.log'}")
        if not rerun:
            subprocess.run([cr, "init", str(cfg), str(db)], check=True, cwd=work, env=env,
                           stdout=subprocess.DEVNULL)
            subprocess.run([str(Path(sys.executable).parent / "cr-filter-pragma"), str(db)], check=True,
                           cwd=work, env=env, stdout=subprocess.DEVNULL)
        con = sqlite3.connect(db)
        if rerun:
            con.execute("DELETE FROM work_results WHERE upper(test_outcome) LIKE '%SURVIVED'")
        ops = con.execute("SELECT job_id, operator_name, start_pos_row, start_pos_col FROM mutation_specs")
        spans = _annotation_spans((work / path).read_text(), decorators=name in NO_JIT)
        drop = [(job,) for job, op, row, col in ops.fetchall()
                if not _kept(op) or any(a <= (row, col) < b for a, b in spans)]
        con.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        con.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
        con.executemany("DELETE FROM work_results WHERE job_id = ?", drop)
        if "njit" not in (work / path).read_text():
            statements, executed = _coverage(work, path, pytest_args, env)
            rows = con.execute("SELECT job_id, start_pos_row FROM mutation_specs WHERE job_id NOT IN "
                               "(SELECT job_id FROM work_results)").fetchall()
            # a mutant's line belongs to the statement that starts at or before it
            unrun = [(f"not run: no selected test executes line {a}", job) for job, a in rows
                     if max((x for x in statements if x <= a), default=0) not in executed]
            con.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                            "VALUES ('NORMAL', ?, 'SURVIVED', '', ?)", unrun)
            log(f"{name}: {len(unrun)} mutants on lines no selected test executes")
        con.commit()
        n = con.execute("SELECT count(*) FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results)"
                        ).fetchone()[0]
        con.close()
        log(f"{name}: {n} mutants of {path} to run")
        subprocess.run([cr, "exec", str(cfg), str(db)], check=True, cwd=work, env=env)
    finally:
        with contextlib.suppress(OSError):
            client(sock, "stop")
        server.wait(timeout=30)
        shutil.copy2(work / "original.py", work / path)  # leave the copy unmutated
    return _summary(name, path, work, db, time.monotonic() - t0)


def _annotation_spans(source: str, *, decorators: bool = False) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of type annotations, when ``from __future__ import annotations`` keeps
    them unevaluated: a mutant there (``str | None`` -> ``str & None``) is equivalent by construction.
    With ``decorators``, also the decorators (``@nb.njit(cache=True, fastmath=True)``): under
    NUMBA_DISABLE_JIT they are not applied, and their flags change compilation, not results."""
    import ast

    tree = ast.parse(source)
    postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                    any(a.name == "annotations" for a in n.names) for n in tree.body)
    found = []
    for node in ast.walk(tree):
        if decorators and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += node.decorator_list
        if not postponed:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            found += [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                      if x is not None and x.annotation is not None]
            found += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in found]


def _coverage(work: Path, path: str, pytest_args: list[str], env: dict) -> tuple[list[int], set[int]]:
    """First lines of ``path``'s statements, and those the selected tests execute (coverage.py)."""
    data = work / ".coverage"
    subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--include={path}",
                    "-m", "pytest", *pytest_args], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    out = work / "coverage.json"
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(out)], cwd=work,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    (f,) = json.loads(out.read_text())["files"].values()
    return sorted(f["executed_lines"] + f["missing_lines"]), set(f["executed_lines"])


def _summary(name: str, path: str, work: Path, db: Path, seconds: float) -> dict:
    con = sqlite3.connect(db)
    rows = [(op, line, str(w).lower(), str(t).lower(), diff) for op, line, w, t, diff in con.execute(
        "SELECT s.operator_name, s.start_pos_row, r.worker_outcome, r.test_outcome, r.diff "
        "FROM mutation_specs s JOIN work_results r ON s.job_id = r.job_id")]
    total = len(rows)
    skipped = sum(1 for r in rows if r[2] in ("skipped", "no_test"))  # no_test: the mutation changed nothing
    killed = sum(1 for r in rows if r[3] == "killed")
    survivors = sorted((r for r in rows if r[3] == "survived"), key=lambda r: r[1])
    with open(work / "survivors.txt", "w") as f:
        f.writelines(f"# {path}:{line} {op}\n{diff}\n" for op, line, _w, _t, diff in survivors)
    scored = total - skipped
    out = {"module": name, "path": path, "mutants": scored, "killed": killed, "survived": len(survivors),
           "incompetent": sum(1 for r in rows if r[3] == "incompetent"),
           "score": round(100.0 * killed / scored, 1) if scored else None, "minutes": round(seconds / 60, 1)}
    (work / "summary.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--serve":
        serve(argv[1], argv[2], float(argv[3]))
        return 0
    if argv and argv[0] == "--client":
        return client(argv[1])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("modules", nargs="*", choices=[[], *MODULES], default=[], metavar="MODULE",
                   help=f"default: all of {', '.join(MODULES)}")
    p.add_argument("--jobs", type=int, default=1, help="modules mutated at once (each runs its mutants serially)")
    p.add_argument("--survivors", action="store_true",
                   help="rerun only the last run's survivors against the current tests")
    p.add_argument("--report", action="store_true", help="only summarise the sessions of the last run")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one mutant's test run may take")
    args = p.parse_args(argv)
    names = args.modules or list(MODULES)
    from concurrent.futures import ThreadPoolExecutor

    if args.report:
        results = [_summary(n, MODULES[n][0], OUT / n, OUT / n / "session.sqlite", 0.0) for n in names
                   if (OUT / n / "session.sqlite").exists()]
    else:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(lambda n: run_module(n, args.timeout, lambda m: print(m, flush=True), rerun=args.survivors), names))
    print(f"\n{'module':<16}{'file':<42}{'mutants':>8}{'killed':>8}{'survived':>9}{'score':>8}{'min':>6}")
    for r in results:
        print(f"{r['module']:<16}{r['path'][4:]:<42}{r['mutants']:>8}{r['killed']:>8}{r['survived']:>9}"
              f"{r['score']:>7}%{r['minutes']:>6}")
    print(f"survivors: {OUT.relative_to(ROOT)}/<module>/survivors.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
