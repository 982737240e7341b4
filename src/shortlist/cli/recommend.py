"""``shortlist recommend``: recommendations (and the stage trace) from a trained pipeline."""

from __future__ import annotations

import argparse

from shortlist.cli.common import print_json
from shortlist.cli.paths import model_folder

COMMAND = "recommend"
HELP = "Recommend items for a user from a trained pipeline folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, metavar="DIR", type=model_folder, help="folder written by `shortlist train`")
    parser.add_argument("--user", metavar="ID", help="user id (unknown ids use --history)")
    parser.add_argument("--history", metavar="ID,ID", help="recent item ids for an anonymous/new user")
    parser.add_argument("--k", type=int, default=10, help="number of items")
    parser.add_argument("--explain", action="store_true", help="show each stage: in/out, scores, drops, ms")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from shortlist.errors import ConfigError
    from shortlist.models.base import check_k
    from shortlist.pipeline import Pipeline

    k = check_k(args.k)
    if args.user is None and not args.history:
        raise ConfigError("give --user ID and/or --history ITEM,ITEM for an anonymous user")
    pipeline = Pipeline.load(args.model_dir)
    history = [h.strip() for h in args.history.split(",")] if args.history else []
    request = pipeline.make_request(args.user, k=k, history=history)
    response = pipeline.recommend(request)
    if args.json:
        print_json({"user_id": args.user, **response.to_dict(pipeline, explain=args.explain)})
        return 0
    who = f"user {args.user}" if request.known_user else f"anonymous user ({len(request.history)} history items)"
    print(f"top {k} for {who}:")
    if response.fallback == "popular":
        print("(nothing is known about this user: padded with popular items, as the HTTP API does)")
    for rank, (item, score) in enumerate(zip(response.item_ids, response.scores), 1):
        print(f"{rank:>3}. {item}  {score:.4f}")
    if args.explain:
        print()
        print(response.trace.format(pipeline.items_))
    return 0
