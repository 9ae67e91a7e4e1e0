"""``make soak``: the mock at saturation for five minutes (``SOAK_SECONDS``): valid creates, invalid
creates and polls in turn, over 16 connections. Every answer is tallied and the RSS sampled.

Writes benchmarks/soak.md, soak.json and soak.png.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import load
from benchmarks.bench import CREATE_PATH, INVALID, VALID, say
from benchmarks.load import Mix, Scenario
from benchmarks.machine import describe_machine
from benchmarks.measures import AUTH
from benchmarks.plot import soak_chart
from benchmarks.servers import LOAD_CPU, pinned, serve_mock

OUT = Path(__file__).resolve().parent
SLICE = 10.0  # seconds of load between two memory samples
WARM_UP = 60.0  # by then the store and the journal are full, and stay so: the steady state


def main() -> int:
    total = float(os.environ.get("SOAK_SECONDS", "300"))
    with serve_mock() as mock:
        samples: list[dict[str, float]] = [{"t": 0.0, "rss_mb": mock.memory() / 2**20, "per_second": 0.0}]
        statuses: dict[int, int] = {}
        socket_errors = requests = 0
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < total:
            mix = _mix(mock.url)
            piece = load.run(mock.url, mix, seconds=min(SLICE, total - elapsed), cpu=LOAD_CPU if pinned() else None)
            for status, count in piece.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            socket_errors += piece.socket_errors
            requests += piece.requests
            sample = {"t": time.monotonic() - started, "rss_mb": mock.memory() / 2**20, "per_second": piece.per_second}
            samples.append(sample)
            rate, rss = f"{piece.per_second:8,.0f} req/s", f"RSS {sample['rss_mb']:6.1f} MB"
            say(f"  {sample['t']:5.0f} s  {rate}  {rss}  errors {piece.errors(mix.expected)}")
        health = httpx.get(mock.url + "/__mock/health").json()
    errors = sum(n for s, n in statuses.items() if s not in (200, 202, 400)) + socket_errors
    results = summarize(samples, statuses, socket_errors, requests, errors, health, total)
    (OUT / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "soak.md").write_text(markdown(results))
    soak_chart(samples, OUT / "soak.png")
    say((OUT / "soak.md").read_text())
    return 0 if errors == 0 and results["growth_after_warm_up"] < 0.20 else 1


def _mix(url: str) -> Mix:
    """Two valid creates, an invalid one and a poll, in turn. The polled task is created afresh for each
    slice: in the steady state the store pushes out its oldest tasks, and a poll of one gets 404."""
    created = httpx.post(url + CREATE_PATH, content=VALID, headers={**AUTH, "Content-Type": "application/json"})
    task_id = created.json()["task_info"]["id"]
    poll = Scenario("poll", "GET", f"{CREATE_PATH}/{task_id}", 200, headers=(("Authorization", "Bearer sk-mr-bench"),))
    valid = Scenario("create (valid)", "POST", CREATE_PATH, 202, VALID)
    return Mix((valid, valid, Scenario("create (invalid)", "POST", CREATE_PATH, 400, INVALID), poll))


def summarize(
    samples: list[dict[str, float]],
    statuses: dict[int, int],
    socket_errors: int,
    requests: int,
    errors: int,
    health: dict[str, Any],
    total: float,
) -> dict[str, Any]:
    warm = next((s for s in samples if s["t"] >= WARM_UP), samples[-1])
    end = samples[-1]
    rates = [s["per_second"] for s in samples[1:]]
    return {
        "machine": describe_machine(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": total,
        "requests": requests,
        "statuses": statuses,
        "socket_errors": socket_errors,
        "errors": errors,
        "mean_per_second": requests / end["t"] if end["t"] else 0.0,
        "slowest_slice_per_second": min(rates) if rates else 0.0,
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_after_warm_up_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_peak_mb": max(s["rss_mb"] for s in samples),
        "growth_after_warm_up": (end["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"],
        "growth_from_start": (end["rss_mb"] - samples[0]["rss_mb"]) / samples[0]["rss_mb"],
        "tasks_stored_at_end": health["tasks"],
        "samples": samples,
    }


def markdown(r: dict[str, Any]) -> str:
    statuses = ", ".join(f"{count:,} × {status}" for status, count in sorted(r["statuses"].items()))
    return "\n".join(
        [
            "# Soak: the mock at saturation",
            "",
            f"Run `make soak` on {r['finished_at']}: {r['seconds']:g} s of wrk (16 connections) sending valid creates,"
            " invalid creates and polls in turn (2:1:1), with default settings.",
            "",
            f"- Requests: {r['requests']:,} ({r['mean_per_second']:,.0f} req/s on average; slowest 10 s slice"
            f" {r['slowest_slice_per_second']:,.0f} req/s). Answers: {statuses}.",
            f"- Errors (an unexpected status, or no answer): **{r['errors']}** ({r['socket_errors']} socket errors).",
            f"- RSS: {r['rss_start_mb']:.0f} MB before the load, {r['rss_after_warm_up_mb']:.0f} MB after {WARM_UP:g} s"
            f" (the store full at its {r['tasks_stored_at_end']:,}-task cap, the journal full),"
            f" {r['rss_end_mb']:.0f} MB at the end; peak {r['rss_peak_mb']:.0f} MB.",
            f"- Growth in the steady state (after {WARM_UP:g} s to the end): **{r['growth_after_warm_up']:+.1%}**;"
            f" from the idle process to the end: {r['growth_from_start']:+.1%}, which is the bounded store filling up.",
            "",
            "![RSS and req/s over the soak](soak.png)",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
