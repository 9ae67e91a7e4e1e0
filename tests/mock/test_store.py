"""The in-memory store keeps tasks in columns that wrap around: it must behave as an ordered, bounded map."""

from __future__ import annotations

import math
from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.store import MemoryStore
from mockserver.tasks import Failure, Phase, Task, TaskState

FAILURE = Failure(3001, "Bad input", "The image could not be read", Phase.QUEUED)


def task(number: int, *, failure: Failure | None = None, run: float = 40.0) -> Task:
    return Task(f"id-{number}", 1_700_000_000.5 + number, 2.25, run, failure, 5 + number % 3 * 5)


def test_a_task_comes_back_exactly_as_it_went_in() -> None:
    store = MemoryStore(3)
    stored = [task(1), task(2, failure=FAILURE), task(3, run=math.inf)]
    for item in stored:
        store.add(item)
    assert [store.get(item.id) for item in stored] == stored
    assert store.get("id-4") is None
    assert list(store) == stored
    assert len(store) == 3


def test_past_its_capacity_the_oldest_go_first_and_the_slots_are_reused() -> None:
    store = MemoryStore(3)
    for number in range(1, 8):
        store.add(task(number))
    assert [t.id for t in store] == ["id-5", "id-6", "id-7"]
    assert store.get("id-4") is None and store.get("id-5") == task(5)
    assert (len(store), store.evicted) == (3, 4)


def test_clear_forgets_everything() -> None:
    store = MemoryStore(2)
    for number in range(5):
        store.add(task(number))
    store.clear()
    assert (len(store), store.evicted, list(store), store.get("id-4")) == (0, 0, [], None)
    store.add(task(9))
    assert list(store) == [task(9)]


def test_settle_reports_the_state_it_is_given() -> None:
    state = TaskState(Phase.RUNNING, 12.0)
    assert MemoryStore(1).settle(task(1), state) is state


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 6), numbers=st.lists(st.integers(0, 12), max_size=40))
def test_it_behaves_as_an_ordered_bounded_map(capacity: int, numbers: list[int]) -> None:
    """Against a model: an OrderedDict of at most ``capacity`` tasks, oldest dropped first, where an id
    already stored is refused (a task is never replaced)."""
    store, model = MemoryStore(capacity), OrderedDict[str, Task]()
    for number in numbers:
        item = task(number, run=float(len(model)))
        added = store.add(item)
        assert added is (item.id not in model)
        if added:
            model[item.id] = item
            if len(model) > capacity:
                model.popitem(last=False)
    assert list(store) == list(model.values())
    assert len(store) == len(model)
    for number in range(13):
        assert store.get(f"id-{number}") == model.get(f"id-{number}")
