"""The servers a benchmark loads: our mock, Stoplight Prism on the same spec, and the bare Starlette floor.

Each runs as its own process, pinned to one CPU when the machine has two or more (wrk gets another),
with its access log off, so that each is measured at its best.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mockserver.launcher import PYTHON_MODULE, SPARK_MOCK, launch, process_memory

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "spec" / "openapi.yaml"
TOOLS = REPO / "benchmarks" / ".tools"
PRISM_PACKAGE = "@stoplight/prism-cli@5.14.2"
SERVER_CPU = 0
LOAD_CPU = 1


@dataclass(frozen=True, slots=True)
class Running:
    """A server that answers: where, and its process id (for its memory)."""

    name: str
    url: str
    pid: int

    def memory(self, field: str = "VmRSS") -> int:
        """A figure of /proc/<pid>/status, in bytes: ``VmRSS`` now, ``VmHWM`` at its peak."""
        return process_memory(self.pid, field)


def pinned() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


@contextmanager
def serve(
    name: str,
    command: list[str],
    port: int,
    *,
    ready_path: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Running]:
    """Start ``command`` (in ``cwd``), wait until ``ready_path`` answers, yield, then stop it."""
    if pinned():
        command = ["taskset", "-c", str(SERVER_CPU), *command]
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {' '.join(command)}") from None
                time.sleep(0.05)
        yield Running(name, url, process.pid)  # taskset, node and the scripts all exec in place
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def serve_mock(
    *options: str, port: int | None = None, tree: Path | None = None, settings: dict[str, str] | None = None
) -> Iterator[Running]:
    """Our mock, through the one launcher of mock processes: ``spark-mock``, or the mock of another
    checkout (``tree``, imported first from there); ``settings``: ``MOCK_*`` variables for it."""
    program, env = (SPARK_MOCK, {}) if tree is None else (PYTHON_MODULE, {"PYTHONPATH": str(tree)})
    env |= settings or {}
    cpu = SERVER_CPU if pinned() else None
    with launch("--log-level", "warning", *options, port=port, program=program, cwd=tree, env=env, cpu=cpu) as mock:
        yield Running("mock" if tree is None else str(tree), mock.url, mock.process.pid)


def floor_command(port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.floor", str(port)]


def prism_command(port: int) -> list[str]:
    return [str(prism()), "mock", str(SPEC), "--port", str(port), "--verboseLevel", "warn"]


def prism() -> Path:
    """Prism's command, installed from npm into benchmarks/.tools on first use."""
    binary = TOOLS / "node_modules" / ".bin" / "prism"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install Prism (Debian's nodejs and npm packages)")
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--silent", PRISM_PACKAGE], check=True
        )
    return binary


def prism_version() -> str:
    done = subprocess.run([str(prism()), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """A receiver of the mock's webhooks (:mod:`benchmarks.receiver`), pinned beside wrk: its URL, its
    secret, and (filled in once it has stopped) how many deliveries came and how many were signed right."""
    from benchmarks.receiver import SECRET

    command = [sys.executable, "-m", "benchmarks.receiver"]
    if pinned():
        command = ["taskset", "-c", str(LOAD_CPU), *command]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdin is not None and process.stdout is not None
    counts: dict[str, Any] = {}
    try:
        yield process.stdout.readline().strip(), SECRET, counts
    finally:
        process.stdin.close()
        counts.update(json.loads(process.stdout.readline() or "{}"))
        process.wait(timeout=20)
