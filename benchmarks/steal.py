"""Steal time: how much of a CPU the hypervisor gave to other guests, and which bench rounds it spoiled.

On a shared VM, steal makes each wake-up dearer, which slows a server in proportion to its request
rate: a round measured under it measures the hypervisor more than the servers.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.load import Load

RoundFigures = dict[str, dict[str, Load]]  # one round's figures: by server, then by scenario
MeasuredRound = tuple[float, RoundFigures]  # and the share of the servers' CPU stolen during it


def cpu_ticks(cpu: int) -> tuple[int, int]:
    """Clock ticks of ``cpu`` so far: (all, stolen by the hypervisor); (0, 0) where /proc/stat has no such line."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] == f"cpu{cpu}":
            ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
            return sum(ticks), ticks[7]
    return 0, 0


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the time between two :func:`cpu_ticks` that the hypervisor gave to other guests."""
    total = after[0] - before[0]
    return (after[1] - before[1]) / total if total > 0 else 0.0


def calm_rounds(
    measured: list[MeasuredRound], wanted: int, limit: float
) -> tuple[list[MeasuredRound], list[MeasuredRound]]:
    """The rounds to count and those set aside, from (steal share, figures) in the order measured.

    The rounds whose steal stayed within ``limit`` count, if there are ``wanted`` of them; if not,
    every round counts and none is set aside.
    """
    calm = [entry for entry in measured if entry[0] <= limit]
    if len(calm) < wanted:
        return list(measured), []
    return calm, [entry for entry in measured if entry[0] > limit]
