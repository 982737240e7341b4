"""``shortlist demo``: the main job on the built-in synthetic world, end to end.

Generate the world, evaluate single models, train the default pipeline, evaluate it
stage by stage, explain one recommendation, save the pipeline and a plot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from shortlist.cli.paths import existing_file, out_folder

COMMAND = "demo"
HELP = "Run the main job on the built-in synthetic world: generate, train, evaluate, explain."

BASELINES = ("popularity", "item-knn", "als")
USE_CASES = ("news", "social", "streaming", "video", "games", "delivery")  # docs/usecases/


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="small", help="world size: tiny | small | medium | large")
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    parser.add_argument("--config", default=None, metavar="FILE", type=existing_file("a pipeline TOML file"),
                        help="pipeline TOML (default: configs/world.toml, the synthetic world's spec)")
    parser.add_argument("--eval-users", type=int, default=600, metavar="N",
                        help="evaluate the pipeline on a seeded sample of N test users (speed)")
    parser.add_argument("--serve", action="store_true",
                        help="after training, serve the pipeline over HTTP on 127.0.0.1 (Ctrl-C stops)")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    parser.add_argument("--out", default="runs/demo", metavar="DIR", type=out_folder,
                        help="where the trained pipeline and report go")
    parser.add_argument("--use-case", default=None, choices=USE_CASES,
                        help="instead: one product's preset vs the default pipeline and popularity on simulated "
                             "traffic (docs/usecases/)")
    parser.add_argument("--budget", default="0", help="with --use-case: the default pipeline's tuning budget")
    parser.add_argument("--requests", type=int, default=1000, help="with --use-case: simulated requests")
    parser.add_argument("--use-case-size", default="demo", choices=("tiny", "demo"), help=argparse.SUPPRESS)


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "use_case", None):
        from shortlist.cli.usecase_demo import run_usecase

        return run_usecase(args)
    from shortlist.data.splits import random_holdout
    from shortlist.data.world import generate_world
    from shortlist.pipeline import Pipeline, evaluate_pipeline
    from shortlist.pipeline.defaults import world_config_path

    started = time.perf_counter()
    pipeline = Pipeline.from_toml(args.config or world_config_path())
    _section(f"1. synthetic world '{args.preset}' (seed {args.seed})")
    t0 = time.perf_counter()
    world = generate_world(args.preset, seed=args.seed)
    dataset = world.dataset()
    s = dataset.summary()
    print(f"{s['users']} users, {s['items']} items, {s['events']} events, {s['social_edges']} follow edges, "
          f"{len(world.impressions)} logged impressions ({time.perf_counter() - t0:.1f} s)")

    _section(f"2. single models (random holdout 25%, seed 42, k = 10, {args.eval_users} sampled users)")
    split = random_holdout(dataset.interactions, 0.25, seed=42)
    rows = _baselines(split, args.eval_users)
    _print_rows(rows)

    _section(f"3. pipeline '{pipeline.spec.name}', evaluated after each part ({args.eval_users} sampled users)")
    t0 = time.perf_counter()
    results = evaluate_pipeline(pipeline, dataset, "random-holdout:0.25", seed=42, k=10, progress=False,
                                max_users=args.eval_users)
    for upto, res in results.items():
        m = res.metrics
        rows.append((f"pipeline: {upto}", m["ndcg@10"], m["recall@10"], m["coverage"], res.info["fit_seconds"]))
    _print_rows(rows[len(BASELINES):])
    print(f"(trained and evaluated in {time.perf_counter() - t0:.1f} s)")

    _section("4. one recommendation, explained")
    user = dataset.interactions.users.ids[int(split.test.user_index[0])]
    response = pipeline.recommend(pipeline.make_request(user, k=10))
    print(f"user {user}: " + ", ".join(map(str, response.item_ids)))
    print(response.trace.format(pipeline.items_))

    _section("5. saved")
    out = Path(args.out)
    pipeline.save(out / "pipeline")
    plot = _plot(rows, out / "ndcg.png")
    print(f"pipeline -> {out / 'pipeline'}   plot -> {plot}")
    print(f"next: shortlist recommend --model-dir {out / 'pipeline'} --user {user} --explain")
    print(f"      shortlist serve --model-dir {out / 'pipeline'}")
    print(f"      shortlist ui --model-dir {out / 'pipeline'}   (the inspector, without serving traffic)")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    if args.serve:
        return _serve(out / "pipeline", user, args.port)
    return 0


def _baselines(split: Any, eval_users: int) -> list[tuple]:
    """(name, ndcg@10, recall@10, coverage, fit seconds) of each single baseline model on ``split``."""
    from shortlist.evaluation.runner import evaluate
    from shortlist.models.registry import create_model

    rows = []
    for name in BASELINES:
        t0 = time.perf_counter()
        model = create_model(name).fit(split.train, progress=False)
        fit_s = time.perf_counter() - t0
        m = evaluate(model, split, k=10, max_users=eval_users).metrics
        rows.append((name, m["ndcg@10"], m["recall@10"], m["coverage"], fit_s))
    return rows


def _serve(model_dir: Path, user: str, port: int) -> int:
    """Serve the trained pipeline on loopback, printing where to look and what to send."""
    from shortlist.cli import serve

    _section("6. serving")
    print(f"docs:   http://127.0.0.1:{port}/docs")
    print(f"ui:     http://127.0.0.1:{port}/ui/users/{user}   (why these items for user {user}; overview at /ui)")
    print(f"try:    curl -s -X POST http://127.0.0.1:{port}/recommend -H 'Content-Type: application/json' "
          f"-d '{{\"user_id\": \"{user}\", \"k\": 5, \"explain\": true}}'", flush=True)
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return serve.run(parser.parse_args(["--model-dir", str(model_dir), "--port", str(port)]))


def _print_rows(rows: list[tuple[str, float, float, float, float]]) -> None:
    print(f"{'model':<22} {'ndcg@10':>8} {'recall@10':>10} {'coverage':>9} {'fit s':>7}")
    for name, ndcg, rec, cov, fit_s in rows:
        print(f"{name:<22} {ndcg:>8.4f} {rec:>10.4f} {cov:>9.4f} {fit_s:>7.2f}")


def _plot(rows: list[tuple[str, float, float, float, float]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = [r[0] for r in rows]
    ax.barh(names[::-1], [r[1] for r in rows][::-1], color="#4c72b0")
    ax.set_xlabel("NDCG@10 (random holdout 25%)")
    ax.set_title("Shortlist demo: models and pipeline stages")
    for y, v in enumerate([r[1] for r in rows][::-1]):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
