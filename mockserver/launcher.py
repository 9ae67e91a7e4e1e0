"""The mock as a process of its own, on a real socket: what the tests, the contract runner and the
benchmarks start when they need one.

>>> from mockserver.launcher import launch
>>> with launch("--speed", "600") as mock:  # doctest: +SKIP
...     httpx.get(mock.url + "/__mock/health")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

# `python -m mockserver`: the same entry point as `spark-mock`, without needing the script on the PATH.
PYTHON_MODULE = (sys.executable, "-m", "mockserver")
SPARK_MOCK = (str(Path(sys.executable).parent / "spark-mock"),)
HEALTH = "/__mock/health"


@dataclass(frozen=True)
class MockProcess:
    """A running mock: where it answers, its process, and the file its output goes to."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the process has written so far (stdout and stderr together)."""
        return self.log.read_text(errors="replace")

    def memory(self, field: str = "VmRSS") -> int:
        """A figure of /proc/<pid>/status in bytes (``VmRSS``: now, ``VmHWM``: the peak so far)."""
        return process_memory(self.process.pid, field)

    def alive(self) -> bool:
        """Whether its health check answers ``ok``."""
        import httpx  # here, not at the top: every mock process imports this module, and needs no client

        return bool(httpx.get(self.url + HEALTH, timeout=5).json()["status"] == "ok")


@contextmanager
def launch(
    *options: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    program: Sequence[str] = PYTHON_MODULE,
    cwd: Path | None = None,
    cpu: int | None = None,
    port: int | None = None,
    start_timeout: float = 30.0,
) -> Iterator[MockProcess]:
    """Start ``program --host 127.0.0.1 --port <port> *options``, wait until its health check answers,
    yield it, then stop it with SIGINT (as Ctrl-C stops `make mock`).

    Args:
        options: Further command-line options of `spark-mock`.
        env: ``MOCK_*`` variables (and any others) for the process. No ``MOCK_*`` variable of the
            caller's reaches it, so a developer's shell cannot change what a test or a run sees.
        log: Where its output goes (a file, not a pipe: thousands of log lines would fill a pipe
            that nobody reads); a temporary file when not given.
        program: The command that starts the mock; ``SPARK_MOCK`` starts it the way `make mock` does.
        cwd: Where it runs (another checkout, for a comparison of revisions).
        cpu: Pin it to this CPU with ``taskset``.
        port: The port; a free one when not given.
        start_timeout: How long it may take to answer its health check.

    Raises:
        RuntimeError: it exited or did not answer in time; the message ends with its output.
    """
    port = port or free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_")} | dict(env or {})
    command = [*program, "--host", "127.0.0.1", "--port", str(port), *options]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    with ExitStack() as stack:
        if log is None:
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="spark-mock-"))
            log = Path(scratch) / "mock.log"
        with log.open("wb") as output:
            # A session of its own: a terminal's Ctrl-C reaches the caller, who stops the mock in order.
            process = subprocess.Popen(
                command, env=environment, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        mock = MockProcess(f"http://127.0.0.1:{port}", port, process, log)
        try:
            _wait_until_up(mock, start_timeout)
            yield mock
        finally:
            _stop(process)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_memory(pid: int, field: str = "VmRSS") -> int:
    """A figure of /proc/<pid>/status, in bytes: ``VmRSS`` now, ``VmHWM`` at its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _wait_until_up(mock: MockProcess, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if mock.process.poll() is not None:
                raise RuntimeError(f"the mock did not start: {mock.output()[-2000:]}")
            try:
                if client.get(mock.url + HEALTH).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)  # fine-grained: the benchmarks time the start with this
    raise RuntimeError(f"the mock did not answer within {timeout:g} s: {mock.output()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its workers too: the group is its own
        process.wait()
