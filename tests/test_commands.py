"""The four commands as a user meets them: ``--version``, and exit codes that ``--help`` lists and that hold."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mockserver.launcher import launch
from tests.helpers import REPO

BIN = Path(sys.executable).parent
COMMANDS = ["spark-mock", "spark-contract", "spark-live", "spark-drift"]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / command[0]), *command[1:]], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_tells_its_version_and_its_exit_codes(command: str) -> None:
    version = _run(command, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"{command} {VERSION}", version
    helped = _run(command, "--help")
    assert helped.returncode == 0 and "exit codes:" in helped.stdout and "  2  " in helped.stdout


def test_spark_live_names_where_its_key_comes_from() -> None:
    assert "MULEROUTER_API_KEY" in _run("spark-live", "--help").stdout


@pytest.mark.socket
def test_spark_mock_exits_as_its_help_says() -> None:
    assert _run("spark-mock", "--speed", "fast").returncode == 2
    with launch("--log-level", "warning") as running:  # the port is taken: the server cannot start
        taken = _run("spark-mock", "--port", str(running.port), "--log-level", "warning")
    assert taken.returncode == 3, taken.stderr
    assert f"cannot listen on 127.0.0.1:{running.port}" in taken.stderr
    assert "mock on http://" not in taken.stderr  # no banner for a server that never listened
    assert "  3  the server could not start" in _run("spark-mock", "--help").stdout


def test_a_dry_live_run_needs_no_key() -> None:
    environment = {"PATH": "/usr/bin:/bin", "DRY_RUN": "1"}
    planned = subprocess.run([str(BIN / "spark-live")], capture_output=True, text=True, timeout=60, env=environment)
    assert planned.returncode == 0, planned.stderr
    assert "Worst-case total" in planned.stdout
    refused = subprocess.run(
        [str(BIN / "spark-live")], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
    )
    assert refused.returncode == 2 and "MULEROUTER_API_KEY is not set" in refused.stderr
