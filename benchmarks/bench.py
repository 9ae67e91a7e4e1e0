"""``make bench``: our mock, Stoplight Prism and the bare Starlette floor under the same load, one run.

Writes benchmarks/results.md, results.json and results.png; the rendered videos' figures come from
``benchmarks.render`` (also runnable alone: ``python -m benchmarks.render``). ``BENCH_SECONDS`` sets how long each
server is loaded with each scenario in a round (default 10 s, after a 2 s warm-up, in slices that take
turns with the other servers'); ``BENCH_ROUNDS`` the number of rounds (default 5), each figure being
the median of its rounds. A round in which the hypervisor took more than ``BENCH_STEAL_LIMIT`` (default
0.05) of the servers' CPU is set aside and measured again, up to ``BENCH_MAX_ROUNDS`` rounds in all
(default twice ``BENCH_ROUNDS``); the report lists the rounds set aside.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import load, measures, render
from benchmarks.load import Load, Scenario
from benchmarks.machine import describe_machine
from benchmarks.plot import bar_chart
from benchmarks.servers import (
    LOAD_CPU,
    SERVER_CPU,
    Running,
    floor_command,
    pinned,
    prism_command,
    serve,
    serve_mock,
    webhook_receiver,
)
from benchmarks.steal import MeasuredRound, calm_rounds, cpu_ticks, stolen_share
from mockserver.launcher import free_port

OUT = Path(__file__).resolve().parent
CREATE_PATH = measures.CREATE_PATH
VALID = json.dumps(measures.VALID)
INVALID = json.dumps({**measures.VALID, "prompt": "x" * 2001})
EXPECT = {"create (valid)": 202, "create (invalid)": 400, "poll": 200}
SLICE_SECONDS = 2  # wrk counts whole seconds
# The targets, each checked against the figures of the same run.
TARGETS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "create: ≥ 5× Prism": lambda r: r["ratio_prism"] >= 5,
    "create: ≥ 70 % of the Starlette floor": lambda r: r["ratio_floor"] >= 0.70,
    "create: p99 ≤ 5 ms at 16 connections": lambda r: r["mock"]["create (valid)"]["p99"] <= 5,
    "create, webhooks on: ≥ 70 % of the Starlette floor": lambda r: r["ratio_floor_webhooks"] >= 0.70,
    "create, webhooks on: p99 ≤ 5 ms": lambda r: r["webhooks"]["create (valid)"]["p99"] <= 5,
    "poll: ≥ 10,000 req/s": lambda r: r["mock"]["poll"]["per_second"] >= 10_000,
    "invalid create: ≥ 10,000 req/s": lambda r: r["mock"]["create (invalid)"]["per_second"] >= 10_000,
    "10 MB image checked in ≤ 30 ms": lambda r: max(t["check_ms"] for t in r["images"]) <= 30,
    "first create ≤ 1 s after start": lambda r: max(r["first_answers"]) <= 1,
    "100,000 tasks in ≤ 150 MB RSS": lambda r: r["store"]["full_rss"] <= 150 * 2**20,
}


def main() -> int:
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    load.wrk_path()  # fail early, with the way to install it
    stack_top = ExitStack()
    results: dict[str, Any] = {
        "machine": describe_machine(),
        "seconds": seconds,
        "rounds": rounds,
        "connections": 16,
    }
    prism_ready = CREATE_PATH + "/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12
    # The mock again, with webhooks on: every task's events go to a receiver beside wrk.
    receiver_url, secret, received = stack_top.enter_context(webhook_receiver())
    hooked = {"MOCK_WEBHOOK_URLS": receiver_url, "MOCK_WEBHOOK_SECRET": secret}
    servers: dict[str, Callable[[int], AbstractContextManager[Running]]] = {
        "floor": lambda port: serve("floor", floor_command(port), port, ready_path="/"),
        "mock": lambda port: serve_mock(port=port),
        "prism": lambda port: serve("prism", prism_command(port), port, ready_path=prism_ready),
        "webhooks": lambda port: serve_mock(port=port, settings=hooked),
    }
    webhook_counts: list[dict[str, Any]] = []
    # A shared VM's speed drifts by a fifth within a minute (and by half while a neighbour takes the
    # CPU). So in each round the servers run at once (each idle while another is loaded), and each
    # scenario loads them in turn, in slices of SLICE_SECONDS, round-robin, in an order that rotates from
    # round to round: what slows the machine down falls on every server alike. Each figure is the
    # median of its rounds.
    # A round in which the hypervisor took more than STEAL_LIMIT of the servers' CPU is measured again,
    # up to BENCH_MAX_ROUNDS rounds in all: under steal, every wake-up costs the VM more, which hits a
    # server in proportion to its request rate (seen: the floor from 20,000 to 4,500 req/s, Prism only
    # from 2,250 to 1,200). Such rounds are set aside, never hidden: the report lists them.
    steal_limit = float(os.environ.get("BENCH_STEAL_LIMIT", "0.05"))
    max_rounds = int(os.environ.get("BENCH_MAX_ROUNDS", str(2 * rounds)))
    measured: list[MeasuredRound] = []
    number = 0
    while number < max_rounds and sum(stolen <= steal_limit for stolen, _ in measured) < rounds:
        number += 1
        turn = (number - 1) % len(servers)
        order = list(servers)[turn:] + list(servers)[:turn]
        ticks = cpu_ticks(SERVER_CPU)
        this_round: dict[str, dict[str, Load]] = {name: {} for name in servers}
        with ExitStack() as stack:
            urls = {}
            for name in order:
                urls[name] = stack.enter_context(servers[name](free_port())).url
            for scenario_name in EXPECT:
                planned = {name: scenario_for(urls[name], name, scenario_name) for name in order}
                in_turn = {name: (urls[name], scenario) for name, scenario in planned.items() if scenario is not None}
                say(f"round {number}, {scenario_name}: {', '.join(in_turn)}")
                for name, load_ in measure(in_turn, seconds).items():
                    this_round[name][scenario_name] = load_
                    say(
                        f"  {name:8} {load_.per_second:>9,.0f} req/s  p50 {load_.p50:.2f} ms"
                        f"  p99 {load_.p99:.2f} ms  errors {load_.errors(EXPECT[scenario_name])}"
                    )
            counts = httpx.get(urls["webhooks"] + "/__mock/webhooks?limit=0").json()
            webhook_counts.append({k: v for k, v in counts.items() if k != "attempts"})
        stolen = stolen_share(ticks, cpu_ticks(SERVER_CPU))
        measured.append((stolen, this_round))
        verdict = "kept" if stolen <= steal_limit else f"set aside (over {steal_limit:.0%})"
        say(f"round {number}: the hypervisor took {stolen:.1%} of CPU {SERVER_CPU}: {verdict}")
    used, set_aside = calm_rounds(measured, rounds, steal_limit)
    results["rounds"] = len(used)
    results["steal_limit"] = steal_limit
    results["steal_limit_missed"] = len(used) > 0 and max(stolen for stolen, _ in used) > steal_limit
    results["stolen_rounds"] = [stolen for stolen, _ in used]
    results["set_aside"] = [
        {
            "stolen": stolen,
            "mock_create": r["mock"]["create (valid)"].per_second,
            "ratio_prism": r["mock"]["create (valid)"].per_second / r["prism"]["create (valid)"].per_second,
            "floor_create": r["floor"]["create (valid)"].per_second,
        }
        for stolen, r in set_aside
    ]
    runs: dict[str, dict[str, list[Load]]] = {name: {} for name in servers}
    for _, r in used:
        for name, loads_of_round in r.items():
            for scenario_name, load_ in loads_of_round.items():
                runs[name].setdefault(scenario_name, []).append(load_)
    for name, all_loads in runs.items():
        results[name] = {scenario: summary(loads, EXPECT[scenario]) for scenario, loads in all_loads.items()}
    creates = {name: [m.per_second for m in runs[name]["create (valid)"]] for name in servers}
    results["ratio_prism_rounds"] = [m / p for m, p in zip(creates["mock"], creates["prism"], strict=True)]
    results["ratio_floor_rounds"] = [m / f for m, f in zip(creates["mock"], creates["floor"], strict=True)]
    results["ratio_floor_webhooks_rounds"] = [w / f for w, f in zip(creates["webhooks"], creates["floor"], strict=True)]
    results["ratio_floor_webhooks"] = statistics.median(results["ratio_floor_webhooks_rounds"])
    results["ratio_prism"] = statistics.median(results["ratio_prism_rounds"])
    results["ratio_floor"] = statistics.median(results["ratio_floor_rounds"])
    refusals = {name: [m.per_second for m in runs[name]["create (invalid)"]] for name in ("mock", "prism")}
    results["ratio_prism_invalid_rounds"] = [m / p for m, p in zip(refusals["mock"], refusals["prism"], strict=True)]
    results["ratio_prism_invalid"] = statistics.median(results["ratio_prism_invalid_rounds"])
    stack_top.close()  # the receiver stops, and says what came
    results["webhook_counts"] = webhook_counts
    results["webhooks_received"] = received
    say("10 MB images")
    results["images"] = [asdict(t) for t in measures.image_timings()]
    say("first answers")
    results["first_answers"] = measures.first_answers()
    say("a full store")
    results["store"] = asdict(measures.store_memory(Scenario("create (valid)", "POST", CREATE_PATH, 202, VALID)))
    say("rendered videos")
    results["render"] = render.measure()
    results["targets"] = {name: bool(check(results)) for name, check in TARGETS.items()}
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    (OUT / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (OUT / "results.md").write_text(markdown(results))
    bar_chart(results, OUT / "results.png")
    say((OUT / "results.md").read_text())
    return 0 if all(results["targets"].values()) else 1


def summary(loads: list[Load], expect: int) -> dict[str, Any]:
    """The median of each figure over the rounds; errors added up; every round's req/s kept."""
    return {
        "per_second": statistics.median(m.per_second for m in loads),
        "p50": statistics.median(m.p50 for m in loads),
        "p90": statistics.median(m.p90 for m in loads),
        "p99": statistics.median(m.p99 for m in loads),
        "requests": sum(m.requests for m in loads),
        "errors": sum(m.errors(expect) for m in loads),
        "rounds": [round(m.per_second) for m in loads],
        "p99_rounds": [m.p99 for m in loads],
    }


def scenario_for(url: str, server: str, name: str) -> Scenario | None:
    """The scenario ``name`` of EXPECT for ``server``; the floor validates nothing, so it has no invalid create.

    The polled task is created just before the poll is measured, after the creates that came before
    it: a task created earlier could already be pushed out of the mock's full store.
    """
    if name == "create (valid)":
        return Scenario(name, "POST", CREATE_PATH, 202, VALID)
    if server == "webhooks":
        return None  # only creates make events
    if name == "create (invalid)":
        return None if server == "floor" else Scenario(name, "POST", CREATE_PATH, 400, INVALID)
    task_id = "123e4567-e89b-12d3-a456-426614174000"  # Prism answers its example for any id; so does the floor
    if server == "mock":
        created = httpx.post(
            url + CREATE_PATH, content=VALID, headers={**measures.AUTH, "Content-Type": "application/json"}
        )
        task_id = created.json()["task_info"]["id"]
    return Scenario(name, "GET", f"{CREATE_PATH}/{task_id}", 200, headers=(("Authorization", "Bearer sk-mr-bench"),))


def measure(in_turn: dict[str, tuple[str, Scenario]], seconds: float) -> dict[str, Load]:
    """Each server (its URL and scenario) loaded for ``seconds`` in all, in slices, one server after the other.

    Throughput counts every slice's requests; the latency percentiles are the medians of the slices'.
    """
    cpu = LOAD_CPU if pinned() else None
    for url, scenario in in_turn.values():
        load.run(url, scenario, seconds=2, cpu=cpu)  # warm-up: caches, JIT (Prism), connection pools
    slices: dict[str, list[Load]] = {name: [] for name in in_turn}
    for _ in range(max(1, round(seconds / SLICE_SECONDS))):
        for name, (url, scenario) in in_turn.items():
            slices[name].append(load.run(url, scenario, seconds=SLICE_SECONDS, cpu=cpu))
    return {name: combined(loads) for name, loads in slices.items()}


def combined(slices: list[Load]) -> Load:
    """One load from its slices: requests and answers added up, percentiles the medians of the slices'."""
    requests = sum(s.requests for s in slices)
    seconds = sum(s.seconds for s in slices)
    statuses = sum((Counter(s.statuses) for s in slices), Counter[int]())
    return Load(
        requests=requests,
        seconds=seconds,
        per_second=requests / seconds,
        p50=statistics.median(s.p50 for s in slices),
        p90=statistics.median(s.p90 for s in slices),
        p99=statistics.median(s.p99 for s in slices),
        statuses=dict(statuses),
        socket_errors=sum(s.socket_errors for s in slices),
    )


def markdown(r: dict[str, Any]) -> str:
    machine = r["machine"]
    lines = [
        "# Benchmark: the mock (without and with webhooks), Prism and the Starlette floor",
        "",
        f"Run `make bench` on {r['finished_at']}. Each figure: the median of {r['rounds']} rounds; in each, the"
        " four servers (the mock twice: without and with webhooks) run at once and each scenario loads each"
        f" server for {r['seconds']:g} s, after a 2 s warm-up, in {SLICE_SECONDS} s slices taken in turn (the order"
        " rotates from round to round; percentiles"
        " are the medians of the slices'); wrk, 16 connections, one thread; "
        + ("each server pinned to CPU 0 and wrk to CPU 1." if machine["pinned"] else "no CPU pinning."),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items() if k != "pinned") + ".",
        "",
        "| Server | Scenario | req/s | p50 (ms) | p90 (ms) | p99 (ms) | errors | req/s of each round |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    servers = (
        ("mock", "our mock"),
        ("webhooks", "our mock, webhooks on"),
        ("prism", "Prism"),
        ("floor", "Starlette floor"),
    )
    for server, label in servers:
        for scenario, m in r[server].items():
            lines.append(
                f"| {label} | {scenario} | {m['per_second']:,.0f} | {m['p50']:.2f} | {m['p90']:.2f} | {m['p99']:.2f} |"
                f" {m['errors']} | {', '.join(f'{x:,}' for x in m['rounds'])} |"
            )
    lines += [
        "",
        f"Create with full validation: **{r['ratio_prism']:.1f}× Prism**, **{r['ratio_floor']:.0%} of the floor**"
        " (medians of the rounds' ratios: "
        + ", ".join(f"{p:.1f}×" for p in r["ratio_prism_rounds"])
        + "; "
        + ", ".join(f"{f:.0%}" for f in r["ratio_floor_rounds"])
        + ").",
        "",
        f"Create with webhooks on (every task's events sent, signed, to a receiver beside wrk):"
        f" **{r['ratio_floor_webhooks']:.0%} of the floor** (rounds: "
        + ", ".join(f"{f:.0%}" for f in r["ratio_floor_webhooks_rounds"])
        + "). The webhook process runs at the lowest priority, so under this load it gets little CPU: what it"
        " could not take is dropped and counted. Its counts at the end of each round: "
        + "; ".join(
            f"{c['attempts_total']:,} attempts, {c['pending_events']:,} events pending, {c['events_dropped']:,}"
            f" dropped, {c['deliveries_dropped']:,} deliveries dropped"
            for c in r["webhook_counts"]
        )
        + f". The receiver got {r['webhooks_received'].get('received', 0):,} deliveries (of the last 10,000),"
        f" {r['webhooks_received'].get('verified', 0):,} of them signed right"
        + "".join(
            f"; {count:,} refused: {problem}" for problem, count in r["webhooks_received"].get("problems", {}).items()
        )
        + ".",
        "",
        f"Invalid create (a refusal with its reasons): **{r['ratio_prism_invalid']:.1f}× Prism** (median of the"
        " rounds' ratios: " + ", ".join(f"{p:.1f}×" for p in r["ratio_prism_invalid_rounds"]) + ").",
        "",
        "Share of the servers' CPU that the hypervisor gave to other guests (steal time), by round: "
        + ", ".join(f"{s:.1%}" for s in r["stolen_rounds"])
        + ". "
        + (
            f"Too few rounds stayed under {r['steal_limit']:.0%} of steal, so every round counts."
            if r["steal_limit_missed"]
            else f"Rounds over {r['steal_limit']:.0%} were measured again and set aside: "
            + (
                "; ".join(
                    f"{a['stolen']:.1%} stolen, mock {a['mock_create']:,.0f} req/s = {a['ratio_prism']:.1f}× Prism,"
                    f" floor {a['floor_create']:,.0f}"
                    for a in r["set_aside"]
                )
                or "none"
            )
            + "."
        ),
        "",
        "| 10 MB image | size | file | image check (ms) | whole create in-process (ms) |",
        "|---|---|---:|---:|---:|",
    ]
    for t in r["images"]:
        size = f"{t['width']}×{t['height']} | {t['file_bytes']:,} B"
        lines.append(f"| {t['format']} | {size} | {t['check_ms']:.1f} | {t['create_ms']:.1f} |")
    store = r["store"]
    lines += [
        "",
        "First 202 after the process starts: " + ", ".join(f"{s:.2f} s" for s in r["first_answers"]) + ".",
        "",
        f"Memory: {store['idle_rss'] / 2**20:.0f} MB RSS idle; {store['full_rss'] / 2**20:.0f} MB with"
        f" {store['tasks']:,} tasks in the store (its default cap; the oldest go first past it).",
        "",
        *render.markdown(r["render"]),
        "",
        "| Target | Met |",
        "|---|---|",
        *(f"| {name} | {'yes' if met else '**no**'} |" for name, met in r["targets"].items()),
        "",
        "![req/s and p99 by server and scenario](results.png)",
        "",
    ]
    # The figures behind choices in the product code: kept by hand, carried into every report.
    lines += ["", (Path(__file__).parent / "design.md").read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
