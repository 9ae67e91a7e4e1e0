"""`spark-mock` as a process on a real socket, started the way `make mock` starts it, for the tests that need one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from contract_tests.runner import free_port, process_memory, wait_until_up

SPARK_MOCK = Path(sys.executable).parent / "spark-mock"


@dataclass(frozen=True)
class MockProcess:
    """A running `spark-mock`: where it answers, its process, and the file its output goes to."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self, field: str) -> int:
        """A figure of /proc/<pid>/status in bytes (VmRSS: now, VmHWM: the peak so far)."""
        return process_memory(self.process.pid, field)

    def alive(self) -> bool:
        return bool(httpx.get(f"{self.url}/__mock/health", timeout=5).json()["status"] == "ok")


@contextmanager
def spark_mock(log: Path, *options: str, env: Mapping[str, str] | None = None) -> Iterator[MockProcess]:
    """`spark-mock --host 127.0.0.1 --port <a free one> *options`, its output in ``log``; stopped with SIGINT,
    as Ctrl-C stops `make mock`. No MOCK_* variable of the caller's reaches it, only those of ``env``."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_")} | dict(env or {})
    # A file, not a pipe: thousands of log lines would fill a pipe that nobody reads.
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(SPARK_MOCK), "--host", "127.0.0.1", "--port", str(port), *options],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    mock = MockProcess(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_until_up(mock.url, process)
        yield mock
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
