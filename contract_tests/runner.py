"""Run the contract suites against a target and write the reports.

With no target URL, the runner starts the bundled mock for the run (tasks finish in about a
second) and stops it afterwards. Everything goes through pytest, with :class:`ContractPlugin`.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from contract_tests.config import RunConfig
from contract_tests.plugin import ContractPlugin
from contract_tests.report import EXIT_USAGE
from sparkspec.redaction import mask

SUITES = Path(__file__).resolve().parent / "suites"
# How much faster than real time the bundled mock runs: a 1.5-3.5 minute task takes about a second.
BUNDLED_MOCK_SPEED = 200


def run(config: RunConfig, pytest_args: Sequence[str] = (), *, echo: bool = True) -> tuple[int, ContractPlugin]:
    """Run the suites; return the exit code and the plugin that holds the report."""
    with _target(config) as concrete:
        plugin = ContractPlugin(concrete)
        junit = concrete.report_dir / "junit.xml"
        concrete.report_dir.mkdir(parents=True, exist_ok=True)
        args = [str(SUITES), "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES)]
        args += ["-p", "no:cacheprovider", "-p", "contract_tests.fixtures", "--tb=no", "-q" if echo else "-qq"]
        args += [f"--junitxml={junit}", *pytest_args]
        code = pytest.main(args, plugins=[plugin])
    report = plugin.report
    report.finished = time.monotonic()
    _mask_file(junit, concrete.api_key)
    markdown, machine = report.write(concrete.report_dir)
    for path in (markdown, machine):
        _mask_file(path, concrete.api_key)
    if echo:
        sys.stdout.write(mask(report.summary(), concrete.api_key) + "\n")
        sys.stdout.write(f"\nReports: {markdown}, {machine}, {junit}\n")
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_USAGE, plugin
    return report.exit_code, plugin


@contextmanager
def _target(config: RunConfig) -> Iterator[RunConfig]:
    if config.base_url is not None:
        yield config
        return
    key = f"sk-mr-contract-{secrets.token_hex(8)}"
    port = free_port()
    env = {**os.environ, "MOCK_API_KEYS": key, "MOCK_JOURNAL_SIZE": "100"}
    env = {
        k: v for k, v in env.items() if not (k.startswith("MOCK_") and k not in ("MOCK_API_KEYS", "MOCK_JOURNAL_SIZE"))
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--speed",
            str(BUNDLED_MOCK_SPEED),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process)
        yield config.with_target(base_url, key, bundled=True)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """Return once the mock at ``base_url`` answers its health check; raise if ``process`` exits
    first or 30 s pass. Whatever ``process`` wrote to a piped stderr goes into the message."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the mock did not start: {error[-2000:]}")
        try:
            # The admin API only tells when the mock is up; no check of the run uses it.
            if httpx.get(f"{base_url}/__mock/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the mock did not start within 30 s")


def process_memory(pid: int, field: str = "VmRSS") -> int:
    """A figure of /proc/<pid>/status, in bytes: ``VmRSS`` now, ``VmHWM`` at its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mask_file(path: Path, key: str) -> None:
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        masked = mask(text, key)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def selected(expression: str) -> list[str]:
    """pytest arguments that select suites by a ``-k`` expression."""
    return ["-k", expression] if expression and re.search(r"\S", expression) else []
