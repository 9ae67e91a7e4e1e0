"""Real tasks, polled to their end: the lifecycle keeps every promise on every poll."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.budget import BudgetExhausted
from contract_tests.config import active
from contract_tests.findings import violation
from contract_tests.lifecycle import TaskWatcher
from contract_tests.target import Target
from contract_tests.verdicts import Verdicts
from sparkspec.openapi import ApiSpec

PROFILE = active().profile


@pytest.mark.tasks("lifecycle")
def test_tasks_walk_their_lifecycle_to_the_end(
    target: Target, verdicts: Verdicts, watcher: TaskWatcher, spec: ApiSpec, base: dict[str, Any]
) -> None:
    """Several tasks at once: ids stable UUIDs; statuses in a vocabulary and only moving forwards; terminal
    statuses final; videos exactly when succeeded; the error exactly when failed; ISO 8601 timestamps with
    updated_at >= created_at; every task finishes within TASK_TIMEOUT; a succeeded task's video downloads."""
    durations = spec.resolve(spec.request_schema("createGeneration")["properties"]["duration"]).get("enum", [5])
    observations = []
    found = []
    stopped: BudgetExhausted | None = None
    for number in range(PROFILE.lifecycle_tasks):
        try:
            created = target.create({**base, "duration": durations[number % len(durations)]})
        except BudgetExhausted as exc:  # follow the tasks there are; the run is then incomplete
            stopped = exc
            break
        found += verdicts.accepted(created, "a plain valid request")
        if 200 <= created.status < 300:
            observations.append(watcher.start(created))
    for observation in watcher.follow(observations):
        found += observation.violations
    verdicts.settle(found)
    if stopped is not None:
        raise stopped


@settings(max_examples=max(3, PROFILE.invalid_examples // 2))
@given(task_id=st.uuids(version=4))
def test_an_unknown_task_is_404(task_id: uuid.UUID, target: Target, verdicts: Verdicts) -> None:
    exchange = target.poll(str(task_id))
    found = verdicts.conformance(exchange)
    if exchange.status != 404:
        found.append(violation("poll.unknown-is-404", "An unknown task id did not get 404", "404 Not Found", exchange))
    verdicts.settle(found)
