"""``shortlist ui``: browse a saved pipeline in the inspector (``/ui``) on loopback, without serving traffic."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from shortlist.cli.paths import model_folder

COMMAND = "ui"
HELP = "Open the inspector (web UI) on a saved pipeline, on 127.0.0.1: why each user gets what they get."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", required=True, metavar="DIR", type=model_folder,
                        help="folder written by `shortlist train`")
    parser.add_argument("--compare-dir", metavar="DIR", type=model_folder,
                        help="a second pipeline folder: user pages show both versions side by side")
    parser.add_argument("--port", type=int, default=8001, help="TCP port on 127.0.0.1 (default 8001)")


def build_app(model_dir: str | Path, compare_dir: str | Path | None = None, *, scratch: Path | None = None):
    """The full app on loopback with a private event log (the folder's own log is only read, for its figures)."""
    from shortlist.online.updater import ModelHolder
    from shortlist.serving.app import create_app
    from shortlist.serving.settings import Settings

    scratch = Path(scratch or tempfile.mkdtemp(prefix="shortlist-ui-"))
    # the private log keeps this process from writing beside a served folder; its own log is read-only here
    settings = Settings(model_dir=Path(model_dir), host="127.0.0.1", events_db=scratch / "events.sqlite",
                        restore_state=False, checkpoint_every_events=0, checkpoint_every_s=0,
                        checkpoint_path=scratch / "state.npz")
    app = create_app(settings)
    served_log = Path(model_dir) / "events.sqlite"
    if served_log.exists():
        app.state.ui_events_db = served_log
    if compare_dir is not None:
        app.state.ui_compare = ModelHolder(compare_dir)
    return app


def run(args: argparse.Namespace) -> int:
    import uvicorn

    app = build_app(args.model_dir, args.compare_dir)
    print(f"inspector: http://127.0.0.1:{args.port}/ui   (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0
