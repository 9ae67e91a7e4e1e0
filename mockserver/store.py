"""Where tasks are kept: a bounded, in-memory store."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Protocol

from mockserver.tasks import Failure, Task, TaskState


class TaskStore(Protocol):
    """What the mock needs from a task store."""

    def add(self, task: Task) -> bool:
        """Keep ``task``; ``False`` (and nothing kept) if a stored task has its id: none is ever replaced."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def settle(self, task: Task, state: TaskState) -> TaskState:
        """The state to report: ``state``, unless the task was already reported further along."""
        ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Task]: ...


class MemoryStore:
    """Tasks in insertion order, at most ``capacity`` of them.

    When a new task would pass the capacity, the oldest task is forgotten (polling it then gets
    404, as an expired task would). Nothing else ever removes a task, except :meth:`clear`.

    The tasks are kept in columns that fill up and then wrap around, the newest task taking the
    oldest one's slot: the ids in a list, the timeline as packed numbers, and a dict from id to
    slot. A task as a tuple would be five objects in as many places in memory, and once the store
    is full, forgetting the oldest task touches memory long gone from the CPU's caches. In columns
    a task is one string and a few packed numbers: less memory per task, and a full store no longer
    slows creates down (benchmarks/results.md has the figures).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.evicted = 0
        self._start()

    def _start(self) -> None:
        self._slot_of: dict[str, int] = {}
        self._ids: list[str] = []
        self._slots: list[int] = []  # the slot numbers, made once: the dict refers to these
        self._times = array("d")  # created_at, queue_seconds, run_seconds: three per slot
        self._videos: list[int] = []
        self._renderings: list[str | None] = []  # identical requests share one key object
        self._failures: list[Failure | None] = []
        self._oldest = 0  # the slot the next task takes, once the store is full

    def add(self, task: Task) -> bool:
        # No lock: tasks are added on the event loop's thread only.
        slot_of, ids = self._slot_of, self._ids
        task_id, created_at, queue_seconds, run_seconds, failure, video_seconds, rendering = task
        if task_id in slot_of:
            return False
        if len(ids) < self.capacity:
            slot = len(ids)
            ids.append(task_id)
            self._slots.append(slot)
            self._times.extend((created_at, queue_seconds, run_seconds))
            self._videos.append(video_seconds)
            self._renderings.append(rendering)
            self._failures.append(failure)
        else:
            slot = self._oldest
            self._oldest = (slot + 1) % self.capacity
            forgotten = ids[slot]
            if slot_of.get(forgotten) == slot:  # a guard: an id is stored in one slot at most
                del slot_of[forgotten]
            self.evicted += 1
            ids[slot] = task_id
            times, at = self._times, 3 * slot
            times[at], times[at + 1], times[at + 2] = created_at, queue_seconds, run_seconds
            self._videos[slot] = video_seconds
            self._renderings[slot] = rendering
            self._failures[slot] = failure
        slot_of[task_id] = self._slots[slot]
        return True

    def get(self, task_id: str) -> Task | None:
        slot = self._slot_of.get(task_id)
        return None if slot is None else self._task(slot)

    def settle(self, task: Task, state: TaskState) -> TaskState:
        return state  # one process, one monotonic clock: states never go back

    def clear(self) -> None:
        self._start()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __iter__(self) -> Iterator[Task]:
        """Oldest first; a snapshot."""
        count = len(self._ids)
        order = range(count) if count < self.capacity else [(self._oldest + i) % count for i in range(count)]
        slot_of, ids = self._slot_of, self._ids
        return iter([self._task(slot) for slot in order if slot_of.get(ids[slot]) == slot])

    def _task(self, slot: int) -> Task:
        times, at = self._times, 3 * slot
        return Task(
            self._ids[slot],
            times[at],
            times[at + 1],
            times[at + 2],
            self._failures[slot],
            self._videos[slot],
            self._renderings[slot],
        )
