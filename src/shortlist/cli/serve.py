"""``shortlist serve``: the HTTP API (recommendations, events, similar items, metrics) on uvicorn."""

from __future__ import annotations

import argparse

from shortlist.cli.paths import event_log_path, existing_file, model_folder

COMMAND = "serve"
HELP = "Serve a trained pipeline over HTTP (POST /recommend, POST /events, GET /metrics; docs at /docs)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", metavar="DIR", type=model_folder, help="folder written by `shortlist train` or `retrain`")
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1; others need SHORTLIST_API_KEY)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000; 0 picks a free one)")
    parser.add_argument("--config", metavar="FILE", type=existing_file("a settings TOML file"),
                        help="settings TOML (keys as in docs/serving.md)")
    parser.add_argument("--workers", type=int, help="worker processes (more than 1 needs state = 'redis')")
    parser.add_argument("--events-db", metavar="PATH", type=event_log_path,
                        help="SQLite event log (default: MODEL_DIR/events.sqlite)")
    parser.add_argument("--state", choices=["memory", "redis"], help="where online state lives")
    parser.add_argument("--watch", type=float, metavar="SECONDS", dest="watch_interval_s",
                        help="swap automatically when MODEL_DIR changes, checking every SECONDS")
    parser.add_argument("--ui-admin", action="store_true", default=None,
                        help="let the inspector at /ui run admin actions (reload); it is read-only otherwise")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from shortlist.errors import ConfigError
    from shortlist.serving.app import create_app
    from shortlist.serving.settings import load_settings

    settings = load_settings(args.config, model_dir=args.model_dir, host=args.host, port=args.port,
                             workers=args.workers, events_db=args.events_db, state=args.state,
                             watch_interval_s=args.watch_interval_s, ui_admin=args.ui_admin)
    settings.check_security()
    if settings.workers > 1:
        if settings.state != "redis":
            raise ConfigError(f"--workers {settings.workers} needs state = 'redis' so that every worker sees "
                              "the same online state; pass --state redis or use --workers 1")
        from shortlist.serving.workers import serve_workers

        # workers are separate processes: hand them the resolved settings
        settings.export_to_env()
        return serve_workers(settings)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)
    return 0
