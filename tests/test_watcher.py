"""The contract's task watcher at its time limit: only a task that has not ended is late."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from contract_tests.budget import TaskBudget
from contract_tests.checks import Verdicts
from contract_tests.lifecycle import TaskWatcher
from contract_tests.target import Target
from mockserver.spec import ApiSpec

SPEC = ApiSpec.load()
BASE = "http://api.test"


def _example(name: str) -> dict[str, Any]:
    response = SPEC.resolve(SPEC.operation("getGeneration").node["responses"]["200"])
    return copy.deepcopy(response["content"]["application/json"]["examples"][name]["value"])


@pytest.mark.parametrize(("seen", "late"), [("failed", False), ("running", True)])
def test_at_the_deadline_only_a_task_that_has_not_ended_is_late(seen: str, late: bool) -> None:
    """A task seen terminal and still being confirmed when the time runs out did finish in time."""
    body = _example(seen)
    task_id = body["task_info"]["id"]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            created = {"task_info": {**_example("queued")["task_info"]}}
            return httpx.Response(202, json=created, headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
        return httpx.Response(
            200,
            content=json.dumps(body),
            headers={"content-type": "application/json", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        )

    target = Target(BASE, "sk-test-key", TaskBudget(None), SPEC, transport=httpx.MockTransport(handler))
    verdicts = Verdicts(SPEC, BASE)
    # No time at all: the first poll is also the last before the deadline.
    watcher = TaskWatcher(target, verdicts, SPEC.lifecycle, timeout=0, interval=0, confirmations=2)
    (observation,) = watcher.follow([watcher.start(target.create({"prompt": "a", "image": "https://x.y/z.png"}))])
    assert observation.task_id == task_id and observation.statuses == [seen]
    checks = {v.check for v in observation.violations}
    assert ("lifecycle.finishes" in checks) is late, observation.violations
