"""Clocks that tasks are read against. Tests use :class:`ManualClock`; the server a :class:`SystemClock`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, Protocol

TimestampStyle = Literal["seconds", "micro"]


class Clock(Protocol):
    """Seconds since the Unix epoch, never going backwards, and movable forwards.

    ``runs``: whether the time moves by itself (as real time does), or only when it is advanced.
    """

    runs: bool

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

    runs = True

    def __init__(self) -> None:
        self._origin_wall = time.time()
        self._origin_mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._origin_wall + (time.monotonic() - self._origin_mono) + self._offset

    def advance(self, seconds: float) -> None:
        check_advance(seconds, self.now())
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

    runs = False

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._start = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        check_advance(seconds, self._now)
        self._now += seconds

    def reset(self) -> None:
        self._now = self._start

    @property
    def offset(self) -> float:
        return self._now - self._start


class FollowedClock:
    """Another process's clock, as read from there: the last reading it was sent, moved on by the
    monotonic clock (which all processes share) when the original runs by itself. Read only."""

    def __init__(self) -> None:
        self._reading = 0.0
        self._at = time.monotonic()
        self._runs = False

    def follow(self, reading: float, runs: bool) -> None:
        """The original read ``reading`` just now."""
        self._reading, self._at, self._runs = reading, time.monotonic(), runs

    def now(self) -> float:
        if self._runs:
            return self._reading + (time.monotonic() - self._at)
        return self._reading


# Timestamps are written in ISO 8601 with four-digit years: the clock stops short of year 10000.
LATEST = 253_402_300_000.0  # 9999-12-31T23:06:40Z


def check_advance(seconds: float, now: float) -> None:
    """The rule every clock keeps: forwards only, and not past the year 9999 (ValueError otherwise)."""
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"a clock only moves forwards; cannot advance by {seconds}")
    if now + seconds > LATEST:
        raise ValueError("the clock cannot go past the year 9999")


def timestamp(seconds: float, style: TimestampStyle) -> str:
    """ISO 8601 in UTC: ``2025-09-16T10:00:00Z`` (docs) or ``2025-09-16T10:00:00.123456+00:00`` (captured)."""
    if style == "micro":
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")
    return _whole_seconds(int(seconds))


@lru_cache(maxsize=4096)
def _whole_seconds(seconds: int) -> str:
    # Tasks created in the same second share their timestamps: format each second once.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
