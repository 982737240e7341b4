"""The default tuned pipeline on any dataset, next to each single model tuned on the same folds.

For every dataset this does exactly what
``shortlist evaluate --data PATH --protocol random-holdout:0.25 --seed 42 --k 10`` does with
no ``--config``: ``Pipeline.from_toml(default_config_path())``, then ``evaluate_pipeline``
with the spec's own "auto" tuning budget (``--budget SECONDS`` overrides it for quick runs).
The tuner sees only validation folds carved out of the training part; ndcg@10 is then
measured on the test part after the rules (the final list).

The peers are the single models the tuner tuned on those very folds: EASE, ALS, item-kNN,
graph filter, WARP and popularity. Each is refitted with the tuner's best settings
(``pipeline.tuning_.models[...].best_params``; the weighting the tuner chose, if any, applied
to the training part) on the SAME outer training split and scored by the same evaluator in
the same run. A model the tuner skipped (memory, or one fit over its share of the budget) is
shown as skipped, with its reason. "best single" is the single with the highest ndcg@10 on
the TEST split (the strongest peer an oracle could pick, not the one validation picks); the
ratio is pipeline / best single.

Processes: the script runs one child process per dataset (``--one NAME``), so each dataset
starts from a fresh interpreter and its peak RSS is its own; the child prints one JSON line.
Each single model runs in its own grandchild process (``--single``: loads the data, splits,
fits, scores), so its fit seconds and peak RSS are its own too. Peak memory is the peak
resident set of that process (data loading and imports included); the pipeline's is the
child's peak after tuning, fitting and scoring. The pipeline's fit seconds include its tuning.

Datasets (``--datasets``, comma-separated; a missing folder is skipped with a line):

| name | data |
|---|---|
| ``ml-100k`` | ``<data-dir>/ml-100k`` |
| ``ml-latest-small`` | ``<data-dir>/ml-latest-small`` |
| ``lastfm-2k`` | ``<data-dir>/lastfm-2k`` |
| ``yelp`` | ``<data-dir>/yelp`` (one user per line, ``Yelp.txt``) |
| ``world-small`` | ``synthetic:small`` |
| ``world-sparse`` | ``synthetic:small,seed=5,n_users=4000,n_items=3000,n_interactions=120000,popularity_exponent=0.7`` (sparser, flatter popularity) |

``--data-dir`` defaults to ``../shared/data`` next to the repository root.

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/any_dataset.py                     # all six, auto budgets (long)
    nice -n 10 .venv/bin/python benchmarks/any_dataset.py --datasets ml-100k --budget 20   # quick check
    nice -n 10 .venv/bin/python benchmarks/any_dataset.py --quick             # the same quick check

The rows are also written to ``benchmarks/results/any_dataset.json`` (``--out`` folder).

Figures
-------
The figures measured so far, with the machine they ran on, are in ``docs/tuning.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _shared import write_figures  # benchmarks/_shared.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PROTOCOL, SEED, K = "random-holdout:0.25", 42, 10
METRIC = f"ndcg@{K}"

#: name -> folder under --data-dir, or a synthetic:... spec
DATASETS: dict[str, str] = {
    "ml-100k": "ml-100k",
    "ml-latest-small": "ml-latest-small",
    "lastfm-2k": "lastfm-2k",
    "yelp": "yelp",
    "world-small": "synthetic:small",
    "world-sparse": "synthetic:small,seed=5,n_users=4000,n_items=3000,n_interactions=120000,popularity_exponent=0.7",
}
#: the single models compared: (model name in configs/default.toml, label)
SINGLES: list[tuple[str, str]] = [("ease", "EASE"), ("als", "ALS"), ("itemknn", "item-kNN"),
                                  ("gf", "graph filter"), ("warp", "WARP"), ("pop", "popularity")]


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (2**20 bytes).

    ``VmHWM`` of ``/proc/self/status``: the high-water mark of this process's own memory.
    ``peak_memory_bytes()`` (``ru_maxrss``) is not used where ``/proc`` exists: on Linux it keeps
    the spawning process's peak across fork + exec, so every grandchild would report the child's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    from shortlist.pipeline.resources import peak_memory_bytes

    return round(peak_memory_bytes() / 2**20, 1)


def data_spec(name: str, data_dir: Path) -> str:
    where = DATASETS[name]
    return where if where.startswith("synthetic") else str(data_dir / where)


def load(name: str, data_dir: Path) -> Any:
    from shortlist.data.loading import load_data

    return load_data(data_spec(name, data_dir))


def outer_split(dataset: Any, weighting: str | None) -> Any:
    """The pipeline's outer split; the tuner's weighting (if any) applied to its training part."""
    from shortlist.data.splits import Split, split_by_protocol

    split = split_by_protocol(dataset.interactions, PROTOCOL, seed=SEED)
    if weighting:
        split = Split(split.train.with_weighting(weighting), split.test, split.fold_in, split.protocol)
    return split


# -- grandchild: one single model ---------------------------------------------------------------
def run_single(name: str, data_dir: Path, kind: str, params: dict[str, Any], weighting: str | None) -> dict:
    from shortlist.evaluation.runner import evaluate
    from shortlist.models.registry import create_model

    split = outer_split(load(name, data_dir), weighting)
    model = create_model(kind, params)
    t0 = time.perf_counter()
    model.fit(split.train, progress=False)
    fit_s = time.perf_counter() - t0
    res = evaluate(model, split, k=K)
    return {"ndcg": res.metrics[METRIC], "fit_seconds": round(fit_s, 2),
            "peak_mb": peak_rss_mb()}


def spawn(args: list[str]) -> dict | None:
    """Run this script with ``args``; its last stdout line (JSON), or None when it failed."""
    proc = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None
    return json.loads(lines[-1])


# -- child: one dataset -------------------------------------------------------------------------
def run_dataset(name: str, data_dir: Path, budget: float | None) -> dict:
    from shortlist.pipeline import Pipeline, evaluate_pipeline
    from shortlist.pipeline.defaults import default_config_path

    dataset = load(name, data_dir)
    data = dataset.interactions
    pipeline = Pipeline.from_toml(default_config_path())
    declared = {n: dict(ms.params) for n, ms in pipeline.declared_spec.models.items()}
    results = evaluate_pipeline(pipeline, dataset, PROTOCOL, seed=SEED, k=K, budget=budget, progress=False,
                                log=lambda line: log(f"[{name}] {line}"))
    final = results["rules"]
    row: dict[str, Any] = {
        "dataset": name, "data": DATASETS[name], "users": data.n_users, "items": data.n_items,
        "interactions": data.n_events,
        "pipeline": {"ndcg": final.metrics[METRIC], "fit_seconds": final.info["fit_seconds"],
                     "peak_mb": peak_rss_mb()},
        "budget": budget if budget is not None else "auto",
    }
    report = getattr(pipeline, "tuning_", None)
    weighting = (report.weighting or {}).get("chosen") if report is not None else None
    row["weighting"] = weighting
    if report is not None:
        row["tuning"] = {"budget_seconds": report.budget_seconds, "seconds": report.seconds,
                         "chosen_models": list(report.chosen.get("models", {})),
                         "stages": report.chosen.get("stages"),
                         "best_single_validation": report.best_single}
    tuned = {t.name: t for t in report.models} if report is not None else {}
    singles: dict[str, dict] = {}
    for model, label in SINGLES:
        t = tuned.get(model)
        if t is None:
            why = ("the pipeline was not tuned (budget 0)" if report is None
                   else "left out by the tuner's plan (see its log)")
            singles[model] = {"skipped": why}
        elif t.skipped:
            singles[model] = {"kind": t.kind, "skipped": t.skipped}
        elif t.best_score is None:
            singles[model] = {"kind": t.kind, "skipped": "no tuning trial completed"}
        else:
            params = {**declared.get(model, {}), **t.best_params}
            args = ["--single", model, name, "--data-dir", str(data_dir), "--kind", t.kind,
                    "--params", json.dumps(params)] + (["--weighting", weighting] if weighting else [])
            got = spawn(args)
            singles[model] = ({"kind": t.kind, "params": params, "validation": t.best_score, **got} if got
                              else {"kind": t.kind, "params": params, "skipped": "its fit failed (see stderr)"})
        s = singles[model]
        log(f"[{name}] single {label}: " + (f"skipped ({s['skipped']})" if "skipped" in s else
                                            f"{METRIC} {s['ndcg']:.4f}, fit {s['fit_seconds']:.1f} s, "
                                            f"peak {s['peak_mb']:.0f} MB"))
    row["singles"] = singles
    scored = {m: s["ndcg"] for m, s in singles.items() if "ndcg" in s}
    if scored:
        best = max(scored, key=lambda m: scored[m])
        row["best_single"] = {"model": best, "ndcg": scored[best]}
        row["ratio"] = row["pipeline"]["ndcg"] / scored[best] if scored[best] else None
    return row


# -- parent: the table --------------------------------------------------------------------------
def _cell(s: dict | None, width: int) -> str:
    if s is None or "skipped" in s:
        return f"{'skipped':>{width}}"
    return f"{s['ndcg']:>{width}.4f}"


def print_table(rows: list[dict]) -> None:
    label = dict(SINGLES)
    head = (f"{'dataset':<16}{'users':>8}{'items':>8}{'inter.':>10}{'pipeline':>10}{'best single':>22}"
            f"{'ratio':>7}" + "".join(f"{label[m]:>14}" for m, _ in SINGLES) + f"{'fit s':>8}{'peak MB':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['dataset']:<16}  {r['error']}")
            continue
        best = r.get("best_single")
        best_s = f"{label[best['model']]} {best['ndcg']:.4f}" if best else "-"
        ratio = f"{r['ratio']:>7.3f}" if r.get("ratio") else f"{'-':>7}"
        p = r["pipeline"]
        print(f"{r['dataset']:<16}{r['users']:>8,}{r['items']:>8,}{r['interactions']:>10,}{p['ndcg']:>10.4f}"
              f"{best_s:>22}{ratio}" + "".join(_cell(r["singles"].get(m), 14) for m, _ in SINGLES)
              + f"{p['fit_seconds']:>8.1f}{p['peak_mb']:>9.0f}")
    print("\nsingle-model fits (fit seconds / peak MB, each in its own process):")
    print(f"{'dataset':<16}" + "".join(f"{label[m]:>14}" for m, _ in SINGLES))
    for r in rows:
        if "error" in r:
            continue
        cells = []
        for m, _ in SINGLES:
            s = r["singles"].get(m, {})
            cells.append(f"{s['fit_seconds']:.1f} / {s['peak_mb']:.0f}" if "ndcg" in s else "skipped")
        print(f"{r['dataset']:<16}" + "".join(f"{c:>14}" for c in cells))
    skipped = [(r["dataset"], label[m], s["skipped"]) for r in rows if "singles" in r
               for m, s in r["singles"].items() if "skipped" in s]
    for ds, m, why in skipped:
        print(f"skipped: {ds} {m}: {why}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    ap.add_argument("--quick", action="store_true", help="ml-100k only, with a 20 s tuning budget")
    ap.add_argument("--budget", type=float, default=None,
                    help="tuning budget in seconds (default: the spec's own 'auto' budget, as the CLI)")
    ap.add_argument("--data-dir", default=str(DATA), help="folder holding the real datasets (default ../shared/data)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                    help="folder for any_dataset.json")
    ap.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)         # child: one dataset
    ap.add_argument("--single", nargs=2, metavar=("MODEL", "NAME"), help=argparse.SUPPRESS)  # grandchild
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--weighting", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    if args.quick:
        args.datasets, args.budget = "ml-100k", 20.0 if args.budget is None else args.budget

    if args.single:
        _, name = args.single
        print(json.dumps(run_single(name, data_dir, args.kind, json.loads(args.params), args.weighting)))
        return
    if args.one:
        print(json.dumps(run_dataset(args.one, data_dir, args.budget), default=str))
        return

    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        ap.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    budget = "auto (the spec's own)" if args.budget is None else f"{args.budget:g} s"
    print(f"default pipeline (configs/default.toml) vs single models tuned on the same validation folds; "
          f"protocol {PROTOCOL}, seed {SEED}, {METRIC}; tuning budget {budget}; ratio = pipeline / best single")
    rows = []
    for name in names:
        if not DATASETS[name].startswith("synthetic") and not (data_dir / DATASETS[name]).is_dir():
            print(f"skipped {name}: {data_dir / DATASETS[name]} is missing")
            continue
        log(f"[{name}] started")
        t0 = time.perf_counter()
        child = ["--one", name, "--data-dir", str(data_dir)]
        if args.budget is not None:
            child += ["--budget", str(args.budget)]
        row = spawn(child)
        seconds = time.perf_counter() - t0
        log(f"[{name}] finished in {seconds:.0f} s" + ("" if row else " (failed; see above)"))
        row = row or {"dataset": name, "error": "the child process failed (see stderr)"}
        row["wall_seconds"] = round(seconds, 1)
        rows.append(row)
    print()
    print_table(rows)
    write_figures(args.out, "any_dataset", rows)


if __name__ == "__main__":
    main()
