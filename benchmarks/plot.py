"""The benchmark's plots, with matplotlib (the `bench` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: files only
import matplotlib.pyplot as plt

SERVERS = (
    ("mock", "our mock"),
    ("webhooks", "our mock, webhooks on"),
    ("prism", "Prism"),
    ("floor", "Starlette floor"),
)
COLOURS = {"mock": "#2b6cb0", "webhooks": "#63b3ed", "prism": "#c05621", "floor": "#718096"}


def bar_chart(results: dict[str, Any], path: Path) -> None:
    """req/s and p99 latency, by scenario, one bar per server."""
    scenarios = list(results["mock"])
    figure, (rate, tail) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.2
    for offset, (server, label) in enumerate(SERVERS):
        xs = [n + (offset - 1.5) * width for n in range(len(scenarios))]
        figures = [results.get(server, {}).get(s) for s in scenarios]
        rate.bar(xs, [f["per_second"] if f else 0 for f in figures], width, label=label, color=COLOURS[server])
        tail.bar(xs, [f["p99"] if f else 0 for f in figures], width, label=label, color=COLOURS[server])
    for axis, title in ((rate, "requests per second (higher is better)"), (tail, "p99 latency, ms (lower is better)")):
        axis.set_xticks(range(len(scenarios)), scenarios)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    tail.axhline(5, color="black", linestyle="--", linewidth=1, label="target p99 ≤ 5 ms")
    rate.legend()
    tail.legend()
    machine = results["machine"]
    figure.suptitle(
        f"wrk, 16 connections, {results['seconds']:g} s each, median of {results['rounds']} rounds;"
        f" {machine['CPU']}, {machine['cores']} cores"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def soak_chart(samples: list[dict[str, float]], path: Path) -> None:
    """RSS and throughput over the soak."""
    figure, (memory, rate) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    times = [s["t"] for s in samples]
    memory.plot(times, [s["rss_mb"] for s in samples], color=COLOURS["mock"])
    memory.set_ylabel("RSS (MB)")
    memory.set_ylim(bottom=0)
    memory.grid(alpha=0.3)
    rate.plot(times, [s["per_second"] for s in samples], color=COLOURS["prism"])
    rate.set_ylabel("req/s")
    rate.set_xlabel("seconds")
    rate.set_ylim(bottom=0)
    rate.grid(alpha=0.3)
    figure.suptitle("Soak: the mock at saturation")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
