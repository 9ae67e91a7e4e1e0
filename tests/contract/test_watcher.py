"""The contract's task watcher at its time limit: only a task that has not ended is late, and a task
that ended is still confirmed, however late: terminal means final, checked every time."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from contract_tests.budget import TaskBudget
from contract_tests.lifecycle import Observation, TaskWatcher, lifecycle_labels
from contract_tests.target import Target
from contract_tests.verdicts import Verdicts
from sparkspec.openapi import ApiSpec

SPEC = ApiSpec.load()
BASE = "http://api.test"
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40


def _example(name: str) -> dict[str, Any]:
    response = SPEC.resolve(SPEC.operation("getGeneration").node["responses"]["200"])
    return copy.deepcopy(response["content"]["application/json"]["examples"][name]["value"])


@pytest.mark.parametrize(("seen", "late"), [("failed", False), ("running", True)])
def test_at_the_deadline_only_a_task_that_has_not_ended_is_late(seen: str, late: bool) -> None:
    """A task seen terminal when the time runs out did finish in time, and is still confirmed twice."""
    task_id, observation = _follow([_example(seen)])
    assert observation.task_id == task_id
    assert observation.statuses == ([seen] if late else [seen] * 3)
    checks = {v.check for v in observation.violations}
    assert ("lifecycle.finishes" in checks) is late, observation.violations


def test_a_terminal_status_that_reverts_after_the_deadline_is_caught() -> None:
    """The task ends exactly at the deadline, and reads running again on the next poll."""
    _, observation = _follow([_example("succeeded"), _example("running")])
    assert observation.statuses == ["succeeded", "running"]
    assert [v.check for v in observation.violations if not v.deviation] == ["lifecycle.terminal-final"]


def _follow(
    bodies: list[dict[str, Any] | httpx.Response], video: bytes = b"not a video", timeout: float = 0
) -> tuple[str, Observation]:
    """Follow one task whose polls answer ``bodies`` in turn (the last one again and again; a body is a 200, a
    response is sent as it is) and whose video URL serves ``video``; with no time at all by default: the
    first poll is also the last before the deadline."""
    answers = iter(bodies)
    last = bodies[-1]

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal last
        if request.method == "POST":
            created = {"task_info": {**_example("queued")["task_info"]}}
            return httpx.Response(202, json=created, headers={"traceparent": TRACEPARENT})
        if request.url.path.endswith(".mp4"):
            return httpx.Response(200, content=video, headers={"content-type": "video/mp4"})
        last = next(answers, last)
        if isinstance(last, httpx.Response):
            return last
        return httpx.Response(
            200, content=json.dumps(last), headers={"content-type": "application/json", "traceparent": TRACEPARENT}
        )

    target = Target(BASE, "sk-test-key", TaskBudget(None), SPEC, transport=httpx.MockTransport(handler))
    verdicts = Verdicts(SPEC, BASE)
    labels = lifecycle_labels(SPEC)
    watcher = TaskWatcher(target, verdicts, SPEC.lifecycle, timeout=timeout, interval=0, confirmations=2, labels=labels)
    (observation,) = watcher.follow([watcher.start(target.create({"prompt": "a", "image": "https://x.y/z.png"}))])
    return str(_example("queued")["task_info"]["id"]), observation


def test_a_finished_task_whose_video_link_changes_only_deviates() -> None:
    """Result URLs may be signed and renewed (their lifetime is undocumented): only the status must stay."""
    renewed = _example("succeeded")
    renewed["videos"] = ["https://cdn.example.com/renewed/result_00.mp4"]
    _, observation = _follow([_example("succeeded"), renewed])
    found = [(v.check, v.deviation) for v in observation.violations]
    assert ("lifecycle.result-stable", True) in found
    assert not any(check == "lifecycle.terminal-final" for check, _ in found)


@pytest.mark.parametrize(
    ("created", "check", "deviation"),
    [
        ({"status": None}, "lifecycle.status-on-create", True),  # an older page shows no status on create
        ({"status": "succeeded"}, "lifecycle.initial-status", False),  # no reading starts a task finished
    ],
)
def test_what_a_create_says_of_the_status(created: dict[str, Any], check: str, deviation: bool) -> None:
    info = {**_example("queued")["task_info"], **created}
    if created["status"] is None:
        del info["status"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"task_info": info}, headers={"traceparent": TRACEPARENT})

    target = Target(BASE, "sk-test-key", TaskBudget(None), SPEC, transport=httpx.MockTransport(handler))
    watcher = TaskWatcher.for_spec(SPEC, target, Verdicts(SPEC, BASE), timeout=0, interval=0)
    observation = watcher.start(target.create({"prompt": "a", "image": "https://x.y/z.png"}))
    assert [(v.check, v.deviation) for v in observation.violations] == [(check, deviation)]


def test_a_rate_limited_poll_is_asked_again_not_failed() -> None:
    """A 429 to a poll is documented, and says nothing of the task: the next poll asks again."""
    limited = httpx.Response(
        429,
        json={"detail": "Too many requests"},
        headers={"retry-after": "1", "traceparent": TRACEPARENT, "content-type": "application/json"},
    )
    _, observation = _follow([limited, _example("succeeded")], video=MP4, timeout=5)
    assert observation.phase == "succeeded" and observation.violations == []
    lost = httpx.Response(404, json={"detail": "No such task"}, headers={"traceparent": TRACEPARENT})
    _, observation = _follow([lost, _example("succeeded")], video=MP4, timeout=5)
    assert "lifecycle.poll" in {v.check for v in observation.violations}  # a task that went missing is a failure


def test_a_video_that_is_not_an_mp4_only_deviates() -> None:
    """The docs do not name the container of the result video."""
    _, observation = _follow([_example("succeeded")], video=b"\x1aE\xdf\xa3 a WebM file")
    assert [(v.check, v.deviation) for v in observation.violations] == [("lifecycle.video-container", True)]
    _, observation = _follow([_example("succeeded")], video=MP4)
    assert observation.violations == []
