"""Choose the use-case specs' settings on validation seeds (100-102), never on the reported seeds (0-4).

Each variant is the shipped spec with a few TOML keys changed; every variant of a use case serves
the same worlds and requests (``compare_usecase(..., baselines=False)``). Prints the metric per 100
requests, mean over the validation seeds, and the paired difference to the first variant.

    nice -n 5 .venv/bin/python benchmarks/usecases_validate.py --use-case news
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from shortlist.pipeline.usecases import compare_usecase, usecase_config_path

VALIDATION_SEEDS = (100, 101, 102)


def _weights(**w: float) -> dict[str, Any]:
    return {"stages.0.params.weights": w}


_ALL = ["topic", "stage_score", "age"]

#: per use case: variant name -> {dotted TOML path: value}; dict values are merged into the table (None
#: deletes a key); the first variant is the spec before this round of changes
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "news": {
        # the bandit orders all k (slots None), as in the earlier spec, or fills the last n slots
        "topic, alpha=0.5 (the earlier spec)": {"usecase.bandit": {"arm_features": ["topic"], "alpha": 0.5,
                                                                   "slots": None}},
        **{f"topic+score+age, alpha={a}": {"usecase.bandit": {"arm_features": _ALL, "alpha": a, "slots": None}}
           for a in (0.5, 0.1, 0.02, 0.0)},
        "score+age, alpha=0.1": {"usecase.bandit": {"arm_features": ["stage_score", "age"], "alpha": 0.1,
                                                    "slots": None}},
        "topic+score+age, 3 slots, alpha=0.5": {"usecase.bandit": {"arm_features": _ALL, "alpha": 0.5, "slots": 3}},
        **{f"topic+score+age, {n} slot{'s' * (n > 1)}, alpha=0.1":
           {"usecase.bandit": {"arm_features": _ALL, "alpha": 0.1, "slots": n}} for n in (3, 1, 2, 5)},
        **{f"topic, {n} slot{'s' * (n > 1)}, alpha=0.1":
           {"usecase.bandit": {"arm_features": ["topic"], "alpha": 0.1, "slots": n}} for n in (3, 1)},
    },
    "games": {
        "no play counts": {},
        "played +1, log count -0.5": {"usecase.context": ["now", "history"], "features.user_item_counts": True,
                                      **_weights(user_item_played=1.0, user_item_log_count=-0.5)},
        "played +1, log count -1": {"usecase.context": ["now", "history"], "features.user_item_counts": True,
                                    **_weights(user_item_played=1.0, user_item_log_count=-1.0)},
        "log count -0.5 only": {"usecase.context": ["now", "history"], "features.user_item_counts": True,
                                **_weights(user_item_log_count=-0.5)},
    },
    "video": {
        "no length (the earlier spec)": {"features.numeric_columns": [], **_weights(item_length_min=None)},
        "length 0.1/min (shipped)": {},
        "length 0.1/min, engaged age 0.1/day": {"features.engaged_age": True,
                                                **_weights(item_engaged_age_days=0.1)},
        "length 0.1/min, no age terms": {"rules.2.weight": 0.0, **_weights(item_age_days=0.0)},
    },
    "social": {
        "shared half-life (the earlier spec)": {"usecase.context": ["now"], "rules.2.per_user": False,
                                                "rules.2.weight": 0.5},
        "per-user half-life, prior 10": {"rules.2.weight": 0.5},
        "per-user half-life, prior 2": {"rules.2.weight": 0.5, "usecase.freshness_prior_events": 2.0},
        "per-user, boost 1.0 (shipped)": {},
        "shared half-life, boost 1.0": {"usecase.context": ["now"], "rules.2.per_user": False},
    },
}


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    node: Any = data
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        merged = {**node[last], **value}
        node[last] = {k: v for k, v in merged.items() if v is not None}
    else:
        node[last] = value


def _toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for spec files (tables, arrays of tables, inline dicts)."""
    import json

    def val(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)

    lines = [f"{k} = {val(v)}" for k, v in data.items() if not isinstance(v, (dict, list)) or
             (isinstance(v, list) and not (v and isinstance(v[0], dict)))]
    for k, v in data.items():
        if isinstance(v, dict):
            flat = {a: b for a, b in v.items() if not isinstance(b, dict) or a in ("bandit", "rows", "params")}
            lines += [f"[{k}]"] + [f"{a} = {val(b)}" for a, b in flat.items()]
            for a, b in v.items():
                if a not in flat:
                    lines += [f"[{k}.{a}]"] + [f"{c} = {val(d)}" for c, d in b.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for entry in v:
                lines += [f"[[{k}]]"] + [f"{a} = {val(b)}" for a, b in entry.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--use-case", required=True, choices=sorted(VARIANTS))
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--variant", action="append", help="run only these variants (repeatable; parallel runs)")
    args = ap.parse_args()
    base = tomllib.loads(usecase_config_path(args.use_case).read_text())
    vals: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for vname, changes in VARIANTS[args.use_case].items():
            if args.variant and vname not in args.variant:
                continue
            data = copy.deepcopy(base)
            for dotted, value in changes.items():
                _set(data, dotted, value)
            path = Path(tmp) / f"{args.use_case}.toml"
            path.write_text(_toml(data))
            res = [compare_usecase(args.use_case, seed=s, requests=args.requests, spec_path=path, baselines=False)
                   for s in VALIDATION_SEEDS]
            vals[vname] = np.asarray([r["policies"]["preset"]["per_100"] for r in res])
            if "preset-off" in res[0]["policies"]:
                vals["(online layer off)"] = np.asarray([r["policies"]["preset-off"]["per_100"] for r in res])
            first = next(iter(vals.values()))
            d = vals[vname] - first
            half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            off = vals.get("(online layer off)")
            vs_off = f"   vs layer off {(vals[vname] - off).mean():>+6.1f}" if off is not None else ""
            print(f"{args.use_case:<9} {vname:<40} {vals[vname].mean():>9.1f}   vs first {d.mean():>+8.1f} ± {half:.1f}"
                  f"{vs_off}   per seed {np.round(vals[vname], 1).tolist()}", flush=True)
    if "(online layer off)" in vals:
        off = vals["(online layer off)"]
        print(f"{args.use_case:<9} {'(online layer off)':<40} {off.mean():>9.1f}   per seed {np.round(off, 1).tolist()}")


if __name__ == "__main__":
    main()
