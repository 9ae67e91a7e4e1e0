"""``spark-mock``: serve the mock with uvicorn. Options override the ``MOCK_*`` environment."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import uvicorn

from mockserver.app import create_app
from mockserver.settings import Settings, SettingsError
from mockserver.spec import SpecError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark-mock",
        description="Serve a mock of MuleRouter's wan2.6-i2v-spark API. Every option can also be set "
        "as a MOCK_* environment variable (MOCK_PORT, MOCK_SPEED, ...); options win.",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock until interrupted. Exit code 2 means a bad setting."""
    args = build_parser().parse_args(argv)
    overrides = {key: value for key, value in vars(args).items() if value is not None}
    try:
        settings = Settings.from_env(os.environ, **overrides)
        app = create_app(settings)
    except (SettingsError, SpecError) as exc:
        sys.stderr.write(f"spark-mock: {exc}\n")
        return 2
    sys.stderr.write(
        f"spark-mock: wan2.6-i2v-spark mock on http://{settings.host}:{settings.port} "
        f"(speed x{settings.speed:g}, {settings.vocabulary} status words; admin API under /__mock)\n"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0
