"""Webhook events, and when they are due: part of the domain (no HTTP, no clock of its own).

A task's events follow from its timeline alone (``TaskService.timeline``): ``task.created`` when it is
created, ``task.succeeded`` or ``task.failed`` when it enters that phase; the processing phase has
no event (api-facts §4, §8). A stalled task never ends, so it has no end event. ``balance.low`` is
sent on demand. Nothing here reads a clock: the schedule is a heap of events by due time, which the
webhook service empties as the mock's clock passes them.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from mockserver.tasks import Phase, Task

TASK_CREATED = "task.created"
TASK_SUCCEEDED = "task.succeeded"
TASK_FAILED = "task.failed"
BALANCE_LOW = "balance.low"
EVENT_TYPES = (TASK_CREATED, TASK_SUCCEEDED, TASK_FAILED, BALANCE_LOW)
# The phase whose start each task event marks.
# The most events a task makes: task.created, then task.succeeded or task.failed.
EVENTS_PER_TASK = 2
_EVENT_OF = {Phase.QUEUED.value: TASK_CREATED, Phase.SUCCEEDED.value: TASK_SUCCEEDED, Phase.FAILED.value: TASK_FAILED}


class Scheduled(NamedTuple):
    """An event waiting for its time: when (the mock's clock), in which order, its type and subject.

    The subject of a task event is ``(task, base_url)``: the task, and where its client reached the
    mock (the payload's video links start there); that of ``balance.low`` is the event's data.
    """

    due: float
    order: int
    type: str
    subject: Any


def task_events(task: Task, timeline: Mapping[str, float | None]) -> list[tuple[float, str]]:
    """The events of ``task`` on the mock's clock: ``(due, type)``, from its timeline (seconds after
    its creation at which it enters each phase; ``None`` for an end it never reaches)."""
    return [
        (task.created_at + seconds, _EVENT_OF[phase])
        for phase, seconds in timeline.items()
        if phase in _EVENT_OF and seconds is not None
    ]


def event_count(task: Task) -> int:
    """How many events ``task`` makes: what :func:`task_events` gives, counted without making them."""
    fails_queued = task.failure is not None and task.failure.stage is Phase.QUEUED
    return 1 if math.isinf(task.run_seconds) and not fails_queued else EVENTS_PER_TASK


def events_of(born: Sequence[tuple[Task, Any]]) -> int:
    """How many events the tasks of ``born`` (pairs of a task and anything) make, as :func:`event_count`
    adds them up; cheaper, since only a task that may never end needs a closer look."""
    inf = math.inf
    return EVENTS_PER_TASK * len(born) - sum(EVENTS_PER_TASK - event_count(t) for t, _ in born if t.run_seconds == inf)


class Schedule:
    """Events by due time, at most ``capacity`` of them: one more is refused, and counted in ``dropped``."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.dropped = 0
        self._heap: list[Scheduled] = []
        self._order = itertools.count()

    def push(self, due: float, event_type: str, subject: Any) -> bool:
        """Schedule an event; ``False`` (and counted as dropped) when ``capacity`` are waiting."""
        if len(self._heap) >= self.capacity:
            self.dropped += 1
            return False
        heapq.heappush(self._heap, Scheduled(due, next(self._order), event_type, subject))
        return True

    def pop_due(self, now: float, limit: int | None = None) -> list[Scheduled]:
        """The events due at ``now`` or before (at most ``limit`` of them), earliest first, taken off the
        schedule."""
        heap, found = self._heap, list[Scheduled]()
        while heap and heap[0].due <= now and (limit is None or len(found) < limit):
            found.append(heapq.heappop(heap))
        return found

    @property
    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def clear(self) -> None:
        self._heap.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._heap)
