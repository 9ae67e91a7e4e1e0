"""The task service: the one place that creates tasks, finds them, reads their state and forgets them.

The API's routes, the admin API and (through the admin API) drift all go through it, so a task is
found by one rule and read by one rule everywhere. Like the rest of the domain, it knows neither
Starlette nor openapi-core.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mockserver.clock import Clock
from mockserver.scenarios import Scenario
from mockserver.store import TaskStore
from mockserver.tasks import Task, TaskState, plan_task, state_at, timeline


class TaskService:
    """The tasks of one mock.

    Args:
        store: Where tasks are kept.
        clock: The time their state is read against.
        speed: How many times faster than real time tasks progress.
        seed: Makes the sequence of task ids (and so their timelines) repeatable.
        counter: With a seed, where the ids' sequence numbers come from when the store outlives the
            process or is shared by several (a state file): each number is handed out once, so no
            two processes, and no restart, ever draw the same id. ``reset_counter`` starts it again.
        id_rule: Which other spellings of an id (upper case, say) find a task: the same rule for
            the poll, the video and the admin API. ``None`` takes every spelling of a UUID.
    """

    def __init__(
        self,
        store: TaskStore,
        clock: Clock,
        *,
        speed: float,
        seed: int | None,
        counter: Callable[[], int] | None = None,
        reset_counter: Callable[[], None] | None = None,
        id_rule: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.speed = speed
        self.seed = seed
        self._id_rule = id_rule
        self._counter = counter
        self._reset_counter = reset_counter
        self._new_id = self._id_source()

    def create(self, fields: Mapping[str, Any], scenario: Scenario, rendering: str | None = None) -> Task:
        """A new task for an accepted request (``fields``: its body with the spec's defaults), stored;
        ``rendering`` is the key of its video's rendering, if it has one.

        An id already stored is never reused: the next one is drawn (a seeded sequence can meet the
        tasks of an earlier run kept in a state file)."""
        for _ in range(MAX_ID_DRAWS):
            task = self._plan(fields, scenario, rendering)
            if self.store.add(task):
                return task
        raise RuntimeError(f"no free task id in {MAX_ID_DRAWS} draws")

    def _plan(self, fields: Mapping[str, Any], scenario: Scenario, rendering: str | None) -> Task:
        task_id, bits = self._new_id()
        # Positional, in plan_task's order: keywords cost more, and one task is planned per create.
        return plan_task(
            task_id,
            self.clock.now(),
            int(fields["duration"]),
            bool(fields["prompt_extend"]),
            self.speed,
            scenario.failure,
            scenario.stall,
            # The low 48 bits of a version 4 UUID are random (the version and variant bits are higher up).
            (((bits >> 16) & 0xFFFF) / 0xFFFF, (bits & 0xFFFF) / 0xFFFF),
            rendering,
        )

    def find(self, raw_id: str) -> Task | None:
        """The task with this id, as the mock wrote it or in another spelling of the same UUID that
        the id rule takes."""
        task = self.store.get(raw_id)
        if task is not None or (self._id_rule is not None and not self._id_rule(raw_id)):
            return task
        try:
            return self.store.get(str(uuid.UUID(raw_id)))
        except ValueError:
            return None

    def read(self, task: Task) -> TaskState:
        """The task's state now, never behind a state already reported."""
        return self.store.settle(task, state_at(task, self.clock.now()))

    def timeline(self, task: Task) -> dict[str, float | None]:
        """Seconds after its creation at which the task enters each phase it will pass through;
        ``None`` for an end it never reaches (a stalled task)."""
        return timeline(task)

    def age(self, task: Task) -> float:
        """Seconds since the task was created, by the mock's clock."""
        return self.clock.now() - task.created_at

    def recent(self, limit: int) -> list[Task]:
        """The newest ``limit`` tasks, oldest first."""
        return list(self.store)[-limit:] if limit else []

    def reset(self) -> None:
        """Forget every task; the clock returns to real time and the id sequence starts again."""
        self.store.clear()
        self.clock.reset()
        if self._reset_counter is not None:
            self._reset_counter()
        self._new_id = self._id_source()

    def _id_source(self) -> Callable[[], tuple[str, int]]:
        if self.seed is not None and self._counter is not None:
            return _counted_ids(self.seed, self._counter)
        return _id_source(self.seed)

    def __len__(self) -> int:
        return len(self.store)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.store)


def _id_source(seed: int | None) -> Callable[[], tuple[str, int]]:
    """Version 4 UUIDs, as text and as a number; repeatable when seeded."""
    # Task ids must be unique, not unguessable: the fast generator, seeded from os.urandom, will do.
    bits = random.Random(seed).getrandbits

    def new_id() -> tuple[str, int]:
        return _as_uuid(bits(128))

    return new_id


def _counted_ids(seed: int, counter: Callable[[], int]) -> Callable[[], tuple[str, int]]:
    """Version 4 UUIDs drawn from the seed and a sequence number that is never handed out twice."""

    def new_id() -> tuple[str, int]:
        return _as_uuid(random.Random(f"{seed}:{counter()}").getrandbits(128))

    return new_id


def _as_uuid(bits: int) -> tuple[str, int]:
    """128 random bits as a version 4 UUID: its text and its number."""
    number = (bits & _UUID_CLEAR) | _UUID_V4
    text = number.to_bytes(16, "big").hex()  # cheaper than formatting the number as hex
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}", number


MAX_ID_DRAWS = 1000
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)
