"""``spark-mock``: serve the mock with uvicorn. Options override the ``MOCK_*`` environment."""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from mockserver.app import create_app, settle_heap
from mockserver.http_protocol import SERVER_OPTIONS
from mockserver.http_protocol import configure as configure_protocol
from mockserver.settings import Settings, SettingsError
from sparkspec.openapi import SpecError
from sparkspec.resources import command_parser

EXIT_CODES = """
0  stopped (Ctrl-C or SIGTERM)
2  a bad setting, a bad spec or a state file that cannot be used; the message names it
3  the server could not start (uvicorn's code: the port is taken, say)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "spark-mock",
        "Serve a mock of MuleRouter's wan2.6-i2v-spark API. Every option can also be set "
        "as a MOCK_* environment variable (MOCK_PORT, MOCK_SPEED, ...); options win.",
        EXIT_CODES,
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000)")
    parser.add_argument("--speed", type=float, help="how many times faster than real time tasks run (default 1)")
    parser.add_argument("--vocabulary", help="status words: guide (queued/running/succeeded) or legacy (pending/...)")
    parser.add_argument(
        "--error-placement", choices=["task_info", "top_level"], help="where a failed task's error goes"
    )
    parser.add_argument("--timestamps", choices=["seconds", "micro"], help="timestamp style")
    parser.add_argument("--scenario", help="scenario for creates that send no X-Mock-Scenario header")
    parser.add_argument("--seed", type=int, help="make task ids and timings repeat from run to run")
    parser.add_argument("--public-url", help="base URL for result video links")
    parser.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], help="log level")
    parser.add_argument("--workers", type=int, help="worker processes sharing one state (default 1)")
    parser.add_argument("--state-file", type=Path, help="SQLite file that keeps tasks across restarts and workers")
    parser.add_argument(
        "--video", choices=["rendered", "fixed"], help="rendered from each request (default), or one fixed file"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock until interrupted. Exit code 2 means a bad setting."""
    args = build_parser().parse_args(argv)
    overrides = {key: value for key, value in vars(args).items() if value is not None}
    try:
        settings = Settings.from_env(os.environ, **overrides)
        if settings.workers > 1 and settings.state_file is None:
            shared = Path(tempfile.mkdtemp(prefix="spark-mock-")) / "state.sqlite"
            settings = dataclasses.replace(settings, state_file=shared)
        app = create_app(settings)  # built here too: a bad setting stops the start with a clear message
        configure_protocol(settings.read_timeout)
        settle_heap()
    except (SettingsError, SpecError, OSError) as exc:
        sys.stderr.write(f"spark-mock: {exc}\n")
        return 2
    problem = _listen_problem(settings.host, settings.port)
    if problem is not None:  # said before the banner, which would otherwise claim a server that is not there
        sys.stderr.write(f"spark-mock: cannot listen on {settings.host}:{settings.port}: {problem}\n")
        return 3
    where = f"state in {settings.state_file}" if settings.state_file else "state in memory"
    sys.stderr.write(
        f"spark-mock: wan2.6-i2v-spark mock on http://{settings.host}:{settings.port} "
        f"(speed x{settings.speed:g}, {settings.vocabulary} status words, {settings.workers} worker(s), {where}, "
        f"{settings.video} videos; "
        "admin API under /__mock)\n"
    )
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Below info the access log prints nothing, yet uvicorn would still build each line's parts.
        "access_log": settings.log_level in ("info", "debug"),
        **SERVER_OPTIONS,
    }
    if settings.workers == 1:
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return 0
    os.environ.update(settings.to_env())  # each worker rebuilds the same settings from these
    uvicorn.run("mockserver.app:app_from_env", factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]
    return 0


def _listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` now (uvicorn binds it again right after, with
    the same SO_REUSEADDR), or ``None``."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)
