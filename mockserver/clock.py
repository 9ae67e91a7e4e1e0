"""Clocks that tasks are read against. Tests use :class:`ManualClock`; the server a :class:`SystemClock`."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the Unix epoch, never going backwards, and movable forwards."""

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def reset(self) -> None:
        """Drop what :meth:`advance` added. Only safe together with forgetting every task."""

    @property
    def offset(self) -> float:
        """Seconds that :meth:`advance` has added."""
        ...


class SystemClock:
    """Wall-clock time that never steps back, plus whatever :meth:`advance` added.

    The wall clock is read once, at start; after that the time moves with the monotonic clock,
    so that a system clock stepped backwards cannot make a finished task look unfinished.
    """

    def __init__(self) -> None:
        self._origin_wall = time.time()
        self._origin_mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._origin_wall + (time.monotonic() - self._origin_mono) + self._offset

    def advance(self, seconds: float) -> None:
        _check_forward(seconds, self.now())
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._start = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        _check_forward(seconds, self._now)
        self._now += seconds

    def reset(self) -> None:
        self._now = self._start

    @property
    def offset(self) -> float:
        return self._now - self._start


# Timestamps are written in ISO 8601 with four-digit years: the clock stops short of year 10000.
LATEST = 253_402_300_000.0  # 9999-12-31T23:06:40Z


def _check_forward(seconds: float, now: float) -> None:
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"a clock only moves forwards; cannot advance by {seconds}")
    if now + seconds > LATEST:
        raise ValueError("the clock cannot go past the year 9999")
