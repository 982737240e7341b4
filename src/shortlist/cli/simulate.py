"""``shortlist simulate``: run bandit policies against the synthetic world; table + regret plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shortlist.cli.common import parse_params, print_json
from shortlist.cli.paths import out_folder
from shortlist.errors import ConfigError

COMMAND = "simulate"
HELP = "Run bandit policies against the synthetic world: regret, reward, discoverable corpus, plot."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from shortlist.bandits.simulation import CONTEXTS, POLICIES

    parser.add_argument("--policy", action="append", metavar="NAME",
                        help=f"policy to run (repeatable): {', '.join(POLICIES)} (default: egreedy ucb1 "
                             "ts-beta linucb lints)")
    parser.add_argument("--param", action="append", metavar="POLICY.KEY=VALUE",
                        help="policy hyperparameter, e.g. linucb.alpha=0.3 (repeatable)")
    parser.add_argument("--preset", default="small", help="world preset (tiny, small, medium, large)")
    parser.add_argument("--world-seed", type=int, default=0, help="seed of the generated world")
    parser.add_argument("--world", action="append", metavar="KEY=VALUE",
                        help="override a WorldConfig field, e.g. --world n_items=500 (repeatable)")
    parser.add_argument("--steps", type=int, default=5000, help="steps (user arrivals) per seed")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1)")
    parser.add_argument("--slate-size", type=int, default=1, help="items shown per step (position bias applies)")
    parser.add_argument("--context", default="user-taste-noisy", choices=CONTEXTS,
                        help="what contextual policies see (never the true taste)")
    parser.add_argument("--context-noise", type=float, default=1.0,
                        help="noise of the user-taste-noisy context (sd relative to the signal)")
    parser.add_argument("--pool", default="50,50", metavar="FRESH,POPULAR|all",
                        help="candidate pool per step: N freshest + M most consumed items, or 'all'")
    parser.add_argument("--no-new-items", action="store_true",
                        help="freeze the arms at the catalog available at the start")
    parser.add_argument("--discover-clicks", type=int, default=3,
                        help="X of the discoverable corpus: clicks a fresh item needs")
    parser.add_argument("--discover-window", type=int, default=500,
                        help="Y of the discoverable corpus: steps after launch to reach them")
    parser.add_argument("--band", default="std", choices=("std", "ci95"), help="error band of the plot")
    parser.add_argument("--out", required=True, metavar="DIR", type=out_folder, help="folder for regret.png and results.json")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _pool(text: str) -> tuple[int, int] | None:
    if text.strip().lower() == "all":
        return None
    parts = text.split(",")
    try:
        fresh, popular = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--pool must be FRESH,POPULAR (e.g. 50,50) or 'all', got {text!r}") from None
    return fresh, popular


def _policy_params(names: list[str], items: list[str] | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {n: {} for n in names}
    for key, val in parse_params(items).items():
        policy, sep, param = key.partition(".")
        if not sep or policy not in out:
            raise ConfigError(f"--param {key}={val} must look like POLICY.KEY=VALUE with POLICY one of "
                              f"the --policy names {names}, e.g. --param linucb.alpha=0.3")
        out[policy][param] = val
    return out


def run(args: argparse.Namespace) -> int:
    from shortlist.bandits.simulation import make_policy, plot_results, simulate_policies
    from shortlist.data.world import WorldConfig, generate_world
    from shortlist.models.registry import parse_param_value

    names = list(dict.fromkeys(args.policy or ["egreedy", "ucb1", "ts-beta", "linucb", "lints"]))
    params = _policy_params(names, args.param)
    for name in names:  # fail fast on bad names/params before generating the world
        make_policy(name, **params[name])
    pool = _pool(args.pool)
    fields = WorldConfig.model_fields
    overrides = {}
    for key, val in parse_params(args.world).items():
        default = fields[key].default if key in fields else None
        try:
            overrides[key] = parse_param_value(val, default)
        except ValueError:
            raise ConfigError(f"--world {key}={val}: {key} takes a value of type {type(default).__name__}, e.g. "
                              f"--world {key}={default}") from None
    world = generate_world(args.preset, seed=args.world_seed, **overrides)
    factories = {name: (lambda seed, n=name: make_policy(n, seed=seed, **params[n])) for name in names}
    results = simulate_policies(factories, world, steps=args.steps, seeds=args.seeds, slate_size=args.slate_size,
                                context=args.context, context_noise=args.context_noise,
                                new_items=not args.no_new_items, pool=pool,
                                discover_clicks=args.discover_clicks, discover_window=args.discover_window,
                                progress=False if args.no_progress else None)
    out = Path(args.out)
    png = plot_results(results, out / "regret.png", band=args.band,
                       title=f"{world!r}: {args.steps} steps, {args.seeds} seeds, context {args.context}")
    first = next(iter(results.values()))
    summary = {"world": repr(world), "settings": first.info, "params": params, "plot": str(png),
               "policies": [r.summary() for r in results.values()]}
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    if args.json:
        print_json(summary)
        return 0
    print(f"{world!r}; {args.steps} steps x {args.seeds} seeds, context {args.context}, pool {args.pool}, "
          f"slate {args.slate_size}; {first.info['fresh_items']} fresh items")
    print(f"{'policy':<14} {'reward':>9} {'regret (mean ± std)':>22} {'discoverable':>13} "
          f"{'shown cov':>10} {'click cov':>10} {'seconds':>8}")
    for s in summary["policies"]:
        print(f"{s['policy']:<14} {s['reward']:>9.1f} {s['regret']:>12.1f} ± {s['regret_std']:<7.1f} "
              f"{s['discoverable']:>13.1f} {s['shown_coverage']:>10.3f} {s['click_coverage']:>10.3f} "
              f"{s['seconds']:>8.2f}")
    print(f"discoverable corpus: fresh items with >= {args.discover_clicks} clicks within "
          f"{args.discover_window} steps of launch; plot: {png}")
    return 0
