"""Outcomes queued for the next requests: what a test asks of the creates and polls to come, without
the app under test sending ``X-Mock-Scenario``.

Each outcome is a scenario text (see :mod:`mockserver.scenarios`: the create grammar for creates, the
poll grammar for polls), checked when it is queued. Outcomes wait in *lanes*: one per operation
(``create``, ``poll``), one per operation and API key (``create@key:<fingerprint>``: only requests
with that key take them), and one per task for the polls its create asked to fail
(``poll@task:<id>``, filled from ``poll-<n>`` of its scenario). A request takes the oldest outcome of
the most particular lane it has: its task's, then its key's, then its operation's. A create that
sends the header leaves the queues alone; once they are empty, normal service resumes. Queued
outcomes are bounded (``MAX_QUEUED`` in all).

A key is never kept: a lane names it by a fingerprint (the first 16 hex digits of its SHA-256).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from mockserver.scenarios import ScenarioError, ScenarioParser

#: The operations whose requests take queued outcomes.
OPERATIONS = ("create", "poll")
MAX_QUEUED = 1000
#: A poll outcome that answers as usual: what fills a task's lane before its first ``poll-<n>``.
AS_USUAL = "ok"


class QueueFull(ValueError):
    """Queuing these outcomes would pass ``MAX_QUEUED``."""


class OutcomeQueue(Protocol):
    """Where queued outcomes wait: in memory, or in the state file that several workers share."""

    def push(self, lane: str, outcomes: Sequence[str]) -> None:
        """Queue ``outcomes`` after those waiting in ``lane``, all or none (:class:`QueueFull`)."""
        ...

    def pop(self, lanes: Sequence[str]) -> str | None:
        """The oldest outcome of the first of ``lanes`` that has one, taken off; ``None`` if none has."""
        ...

    def pending(self) -> dict[str, list[str]]:
        """What waits, by lane (each operation's own always listed), oldest first."""
        ...

    def idle(self) -> bool:
        """Whether nothing waits, as far as can be told without a look (``False``: have a look)."""
        ...

    def has_room(self, count: int) -> bool:
        """Whether ``count`` more outcomes may be queued now."""
        ...

    def clear(self) -> None: ...


def key_lane(operation: str, token: str) -> str:
    """The lane of ``operation``'s requests that carry the API key ``token``."""
    return f"{operation}@key:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


def task_lane(task_id: str) -> str:
    """The lane of the polls of one task."""
    return f"poll@task:{task_id}"


def poll_plan(faults: Sequence[tuple[int, str]]) -> list[str]:
    """The outcomes of a task's polls, in order, from ``poll-<n>`` items: as usual up to each fault."""
    plan = [AS_USUAL] * max((number for number, _ in faults), default=0)
    for number, outcome in faults:
        plan[number - 1] = outcome
    return plan


class MemoryQueue:
    """Queued outcomes of one process."""

    def __init__(self) -> None:
        self._lanes: dict[str, deque[str]] = {}
        self.waiting = 0  # read on every create and poll: nothing to take is one attribute read

    def push(self, lane: str, outcomes: Sequence[str]) -> None:
        if self.waiting + len(outcomes) > MAX_QUEUED:
            raise QueueFull(f"at most {MAX_QUEUED} outcomes may wait; {self.waiting} do")
        self._lanes.setdefault(lane, deque()).extend(outcomes)
        self.waiting += len(outcomes)

    def pop(self, lanes: Sequence[str]) -> str | None:
        if not self.waiting:
            return None
        for lane in lanes:
            queue = self._lanes.get(lane)
            if queue:
                self.waiting -= 1
                outcome = queue.popleft()
                if not queue:
                    del self._lanes[lane]
                return outcome
        return None

    def pending(self) -> dict[str, list[str]]:
        return {operation: [] for operation in OPERATIONS} | {lane: list(q) for lane, q in self._lanes.items()}

    def idle(self) -> bool:
        return not self.waiting

    def has_room(self, count: int) -> bool:
        return self.waiting + count <= MAX_QUEUED

    def clear(self) -> None:
        self._lanes.clear()
        self.waiting = 0


def enqueue(queue: OutcomeQueue, parser: ScenarioParser, operation: Any, outcomes: Any, api_key: Any = None) -> None:
    """Check ``outcomes`` (scenario texts, each in the grammar of ``operation``) and queue them for
    ``operation``'s requests (only those with ``api_key``, if given); :class:`ValueError` that says
    what is wrong, and nothing is queued."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}; got {str(operation)[:40]!r}")
    if not isinstance(outcomes, list | tuple) or not outcomes:
        raise ValueError("outcomes must be a non-empty list of scenario texts")
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ValueError("api_key must be the API key (the token after 'Bearer ') whose requests take the outcomes")
    parse = parser.parse if operation == "create" else parser.parse_poll
    for index, outcome in enumerate(outcomes):
        if not isinstance(outcome, str):
            raise ValueError(f"outcomes[{index}] is not a text")
        try:
            parse(outcome)
        except ScenarioError as exc:
            raise ValueError(f"outcomes[{index}]: {exc}") from None
    queue.push(operation if api_key is None else key_lane(operation, api_key.strip()), list(outcomes))
