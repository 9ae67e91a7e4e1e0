"""Where tasks are kept: a bounded, in-memory store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Protocol

from mockserver.tasks import Task, TaskState


class TaskStore(Protocol):
    """What the mock needs from a task store."""

    def add(self, task: Task) -> None: ...

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
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.evicted = 0
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.id] = task
            while len(self._tasks) > self.capacity:
                self._tasks.popitem(last=False)
                self.evicted += 1

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def settle(self, task: Task, state: TaskState) -> TaskState:
        return state  # one process, one monotonic clock: states never go back

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()
            self.evicted = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        with self._lock:
            return iter(list(self._tasks.values()))
