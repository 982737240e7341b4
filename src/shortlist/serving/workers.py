"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's ``--workers`` shares one listening socket between processes: whichever worker
wakes first accepts every connection waiting in the queue, so a few long-lived client
connections (a load balancer's, a benchmark's) can all land on one process while the
others idle. With ``SO_REUSEPORT`` each worker listens on a socket of its own and the
kernel spreads new connections over them by a hash of the client address, the way nginx
``reuseport`` and gunicorn ``--reuse-port`` do. Where the platform lacks it (or only
shares the port without balancing, as outside Linux), :func:`serve_workers` falls back to
uvicorn's shared socket.

The supervisor restarts a worker that dies and stops all of them on SIGINT / SIGTERM. A
worker that cannot build the app (a model folder that does not load, an unreachable
redis) sends the reason to the supervisor over a pipe instead of printing a traceback:
the supervisor stops every worker and raises :class:`WorkerStartError`, which the CLI
prints as one ``error:`` line.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import sys
import time
from typing import Any

from shortlist.errors import ShortlistError

__all__ = ["WorkerStartError", "reuseport_supported", "serve_workers"]

log = logging.getLogger("shortlist.serving")
APP = "shortlist.serving.app:app_from_env"
#: a worker exiting sooner than this after its start counts as a failed start
STARTUP_S = 300.0
MAX_EARLY_EXITS = 3
#: exit code of a worker that reported why it could not start (the supervisor does not restart it)
START_FAILED = 3


class WorkerStartError(ShortlistError, RuntimeError):
    """A worker process could not start serving (the reason is in the message)."""


def reuseport_supported() -> bool:
    """Whether the kernel balances connections over sockets sharing a port (Linux)."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _socket(host: str, port: int, listen: bool) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
        sock.set_inheritable(True)
    return sock


def _describe(exc: BaseException) -> str:
    """``exc`` in one line: a Shortlist error says what is wrong and the fix; anything else is named as a bug."""
    if isinstance(exc, ShortlistError | OSError):
        text = str(exc)
    else:
        text = (f"unexpected {type(exc).__name__}: {exc} (a bug in shortlist: rerun with `shortlist --traceback "
                "serve ... --workers 1` to see the traceback, and report it)")
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _worker(host: str, port: int, log_level: str, report: Any) -> None:
    """One worker process: build the app (settings from env), then one uvicorn server on its own socket."""
    import uvicorn

    try:
        from shortlist.serving.app import app_from_env

        app = app_from_env()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the supervisor says what happens
        return
    except Exception as exc:  # noqa: BLE001 - every start-up failure goes to the supervisor, in one line
        report.send(_describe(exc))
        report.close()
        sys.exit(START_FAILED)
    sock = _socket(host, port, listen=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    server.run(sockets=[sock])
    if not server.started:  # uvicorn logged why (the app's start-up failed); a supervisor stopping us ignores it
        report.send("the HTTP server did not start; see its log above")
        sys.exit(START_FAILED)


def serve_workers(settings: Any) -> int:
    """Run ``settings.workers`` server processes on ``settings.host:settings.port``; block until stopped.

    The settings must already be exported to the environment (``Settings.export_to_env``):
    the workers rebuild them from there.
    """
    import uvicorn

    if not reuseport_supported():
        uvicorn.run(APP, factory=True, host=settings.host, port=settings.port, workers=settings.workers,
                    log_level=settings.log_level, access_log=False)
        return 0
    # holding a bound (not listening) socket reserves the port, also when port 0 picks one
    anchor = _socket(settings.host, settings.port, listen=False)
    port = anchor.getsockname()[1]
    ctx = mp.get_context("spawn")
    stopping = False
    started: dict[int, float] = {}
    reports: dict[int, Any] = {}  # pid -> the read end of the pipe its start-up failure comes through

    def start() -> Any:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(settings.host, port, settings.log_level, send), daemon=False)
        proc.start()
        send.close()  # the child holds its own copy; ours would keep the pipe from ever reaching EOF
        started[proc.pid], reports[proc.pid] = time.monotonic(), recv
        return proc

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(settings.workers)]
    print(f"Shortlist serving on http://{settings.host}:{port} with {settings.workers} worker processes "
          f"(pids {', '.join(str(p.pid) for p in procs)}); Ctrl+C stops", flush=True)
    early_exits = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                reason = None if stopping else _start_failure(reports[proc.pid])
                if reason is not None:  # every worker would fail the same way: stop, do not restart
                    raise WorkerStartError(f"the server could not start on model folder "
                                           f"{str(settings.model_dir)!r}: {reason}")
                if proc.is_alive() or stopping:
                    continue
                # a worker that dies while starting will die again: give up instead of looping
                early_exits = early_exits + 1 if time.monotonic() - started[proc.pid] < STARTUP_S else 0
                if early_exits >= MAX_EARLY_EXITS:
                    print(f"error: workers keep exiting during start-up (last exit code {proc.exitcode}); "
                          "see the log above", file=sys.stderr, flush=True)
                    return 1
                log.warning("worker pid %s exited with code %s; starting a new one", proc.pid, proc.exitcode)
                reports.pop(proc.pid).close()
                procs[i] = start()
    finally:
        _shut_down(procs, anchor, reports, old)
    return 0


def _start_failure(conn: Any) -> str | None:
    """The reason a worker sent through ``conn`` for not starting, if it sent one."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):  # it died without a word (a signal, a crash): the restart logic handles it
        return None


def _shut_down(procs: list[Any], anchor: Any, reports: dict[int, Any], handlers: dict[int, Any]) -> None:
    """Stop the workers (SIGTERM, SIGKILL after 30 s), release the port and pipes, restore the signal handlers."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # uvicorn finishes in-flight requests on SIGTERM
    deadline = time.monotonic() + 30
    for proc in procs:
        proc.join(max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
    anchor.close()
    for conn in reports.values():
        conn.close()
    for s, handler in handlers.items():
        signal.signal(s, handler)
