"""make bench and steal time: rounds the hypervisor disturbed are set aside only when enough calm ones remain."""

from __future__ import annotations

from benchmarks.load import Load
from benchmarks.steal import MeasuredRound, calm_rounds, stolen_share


def a_round(stolen: float, mock: float) -> MeasuredRound:
    load = Load(requests=int(mock), seconds=1, per_second=mock, p50=1, p90=2, p99=3, statuses={202: int(mock)})
    return stolen, {"mock": {"create (valid)": load}}


def test_disturbed_rounds_are_set_aside_when_enough_calm_ones_remain() -> None:
    rounds = [a_round(0.01, 9000), a_round(0.12, 3000), a_round(0.02, 9500), a_round(0.30, 2000), a_round(0.0, 9900)]
    used, set_aside = calm_rounds(rounds, 3, 0.05)
    assert used == [rounds[0], rounds[2], rounds[4]]
    assert set_aside == [rounds[1], rounds[3]]


def test_when_calm_never_comes_every_round_counts() -> None:
    rounds = [a_round(0.01, 9000), a_round(0.12, 3000), a_round(0.30, 2000)]
    used, set_aside = calm_rounds(rounds, 2, 0.05)
    assert used == rounds and set_aside == []


def test_a_round_at_the_limit_is_calm() -> None:
    rounds = [a_round(0.05, 9000)]
    assert calm_rounds(rounds, 1, 0.05) == (rounds, [])


def test_the_stolen_share_is_steal_ticks_over_all_ticks() -> None:
    assert stolen_share((1000, 40), (1200, 70)) == 30 / 200
    assert stolen_share((1000, 40), (1000, 40)) == 0.0  # no time passed, or no /proc/stat
