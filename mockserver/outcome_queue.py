"""Outcomes queued for the next requests: what a test asks of the creates to come, without the app
under test sending ``X-Mock-Scenario``.

Each outcome is a scenario text (the header's grammar, see :mod:`mockserver.scenarios`), checked when
it is queued. The next create that would otherwise take the default scenario takes the oldest one
instead; a create that sends the header leaves the queue alone. Once the queue is empty, the
default applies again. Queued outcomes are bounded (``MAX_QUEUED`` in all).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from mockserver.scenarios import ScenarioError, ScenarioParser

#: The operations whose requests take queued outcomes.
OPERATIONS = ("create",)
MAX_QUEUED = 1000


class QueueFull(ValueError):
    """Queuing these outcomes would pass ``MAX_QUEUED``."""


class OutcomeQueue(Protocol):
    """Where queued outcomes wait: in memory, or in the state file that several workers share."""

    def push(self, operation: str, outcomes: Sequence[str]) -> None:
        """Queue ``outcomes`` after those waiting, all or none (:class:`QueueFull`)."""
        ...

    def pop(self, operation: str) -> str | None:
        """The oldest outcome waiting for ``operation``, taken off the queue; ``None`` if there is none."""
        ...

    def pending(self) -> dict[str, list[str]]:
        """What waits, by operation, oldest first."""
        ...

    def clear(self) -> None: ...


class MemoryQueue:
    """Queued outcomes of one process."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[str]] = {operation: deque() for operation in OPERATIONS}
        self.waiting = 0  # read on every create: nothing to take is one attribute read

    def push(self, operation: str, outcomes: Sequence[str]) -> None:
        if self.waiting + len(outcomes) > MAX_QUEUED:
            raise QueueFull(f"at most {MAX_QUEUED} outcomes may wait; {self.waiting} do")
        self._queues[operation].extend(outcomes)
        self.waiting += len(outcomes)

    def pop(self, operation: str) -> str | None:
        if not self.waiting:
            return None
        queue = self._queues[operation]
        if not queue:
            return None
        self.waiting -= 1
        return queue.popleft()

    def pending(self) -> dict[str, list[str]]:
        return {operation: list(queue) for operation, queue in self._queues.items()}

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()
        self.waiting = 0


def enqueue(queue: OutcomeQueue, parser: ScenarioParser, operation: Any, outcomes: Any) -> None:
    """Check ``outcomes`` (scenario texts, each in the grammar of ``X-Mock-Scenario``) and queue them
    for ``operation``; :class:`ValueError` that says what is wrong, and nothing is queued."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}; got {str(operation)[:40]!r}")
    if not isinstance(outcomes, list | tuple) or not outcomes:
        raise ValueError("outcomes must be a non-empty list of scenario texts")
    for index, outcome in enumerate(outcomes):
        if not isinstance(outcome, str):
            raise ValueError(f"outcomes[{index}] is not a text")
        try:
            parser.parse(outcome)
        except ScenarioError as exc:
            raise ValueError(f"outcomes[{index}]: {exc}") from None
    queue.push(operation, list(outcomes))
