"""What a benchmark ran on, for its report."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.servers import pinned, prism_version


def describe_machine() -> dict[str, Any]:
    return {
        "CPU": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": f"{_memory_gib():.0f} GiB",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "wrk": _first_line(["wrk", "--version"]).split(" [")[0].removeprefix("wrk "),
        "Prism": prism_version(),
        "Node.js": _first_line(["node", "--version"]),
        "pinned": pinned(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "unknown"
