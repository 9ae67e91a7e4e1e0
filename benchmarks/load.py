"""Load from wrk: one scenario (a method, a path, a body) against one server, and wrk's figures read back.

wrk runs a small Lua script that tallies the status of every answer, so that a run can tell the
answers it expected from errors (a 5xx, an unexpected status, a socket error).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_TALLY = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do io.write(string.format("STATUS %d %d\\n", status, count)) end
  end
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True, slots=True)
class Scenario:
    """What every request of a run sends, and the status each answer must have."""

    name: str
    method: str
    path: str
    expect: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer sk-mr-bench"),
    )

    def script(self) -> str:
        lines = [f"wrk.method = {_lua(self.method)}"]
        lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in self.headers]
        if self.body:
            lines.append(f"wrk.body = {_lua(self.body)}")
        return "\n".join(lines) + "\n" + _TALLY


@dataclass(frozen=True, slots=True)
class Mix:
    """Several scenarios in turn, one request each, over the same connections (for the soak)."""

    scenarios: tuple[Scenario, ...]

    @property
    def path(self) -> str:
        return self.scenarios[0].path

    @property
    def expected(self) -> frozenset[int]:
        return frozenset(s.expect for s in self.scenarios)

    def script(self) -> str:
        entries = []
        for s in self.scenarios:
            headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in s.headers)
            entries.append(
                f"wrk.format({_lua(s.method)}, {_lua(s.path)}, {{{headers}}}, {_lua(s.body) if s.body else 'nil'})"
            )
        return (
            "local requests = {}\n"
            "function init(args)\n  statuses = {}\n  requests = {" + ", ".join(entries) + "}\n  turn = 0\nend\n"
            "function request()\n  turn = turn % #requests + 1\n  return requests[turn]\nend\n"
            + _TALLY.replace("function init(args) statuses = {} end\n", "")
        )


@dataclass
class Load:
    """What wrk measured: throughput, latency percentiles (ms), and every answer by status."""

    requests: int
    seconds: float
    per_second: float
    p50: float
    p90: float
    p99: float
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0

    def errors(self, expect: int | frozenset[int]) -> int:
        """Answers other than ``expect``, and requests that got no answer."""
        allowed = {expect} if isinstance(expect, int) else expect
        return sum(n for s, n in self.statuses.items() if s not in allowed) + self.socket_errors


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (Debian's package) and run again")
    return found


def run(
    base_url: str,
    scenario: Scenario | Mix,
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 1,
    cpu: int | None = None,
) -> Load:
    """Load ``base_url`` with ``scenario`` for ``seconds``; wrk pinned to ``cpu`` when one is given."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(scenario.script())
        script = Path(handle.name)
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds only
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base_url.rstrip("/") + scenario.path,
    ]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        script.unlink()
    return parse(done.stdout)


def parse(output: str) -> Load:
    """wrk's report (with ``--latency`` and the tally script) as a :class:`Load`."""
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None:
        raise ValueError(f"not a wrk report:\n{output}")
    percentiles = {int(p): _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", output, re.MULTILINE)}
    statuses = {int(s): int(n) for s, n in re.findall(r"^STATUS (\d+) (\d+)$", output, re.MULTILINE)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Load(
        requests=int(total[1]),
        seconds=_ms(total[2] + total[3]) / 1000,
        per_second=float(rate[1]),
        p50=percentiles[50],
        p90=percentiles[90],
        p99=percentiles[99],
        statuses=statuses,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
