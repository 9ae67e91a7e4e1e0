"""Tasks walk queued -> running -> succeeded | failed on a clock the test controls."""

from __future__ import annotations

import itertools
import json
import math
import re
import uuid
from datetime import datetime
from typing import Any

import pytest

from mockserver import Settings
from mockserver.clock import ManualClock
from mockserver.tasks import Failure, Phase, Task, plan_task, state_at
from tests.helpers import AUTH, VALID_BODY, ClientFactory, SpecCheckedClient, create, create_ok, poll, poll_path


def history(
    client: SpecCheckedClient, clock: ManualClock, task_id: str, step: float, steps: int
) -> list[dict[str, Any]]:
    seen = []
    for _ in range(steps):
        seen.append(poll(client, task_id))
        clock.advance(step)
    return seen


def test_a_task_is_queued_then_running_then_succeeds(client: SpecCheckedClient, clock: ManualClock) -> None:
    created = create(client)
    assert created.status_code == 202
    info = created.json()["task_info"]
    assert set(info) == {"id", "status", "created_at", "updated_at"}
    assert info["status"] == "queued" and info["created_at"] == info["updated_at"]
    assert uuid.UUID(info["id"]).version == 4

    statuses = [body["task_info"]["status"] for body in history(client, clock, info["id"], 1.0, 400)]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == ["queued", "running", "succeeded"]


def test_updated_at_moves_only_when_the_status_does(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client)
    bodies = history(client, clock, task_id, 0.5, 800)
    changes = [(b["task_info"]["status"], b["task_info"]["updated_at"]) for b in bodies]
    for before, after in itertools.pairwise(changes):
        assert (before[0] == after[0]) == (before[1] == after[1]), (before, after)
    created = {b["task_info"]["created_at"] for b in bodies}
    assert len(created) == 1
    assert all(b["task_info"]["updated_at"] >= b["task_info"]["created_at"] for b in bodies)


def test_a_succeeded_task_lists_its_video_and_stays_succeeded(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client)
    clock.advance(600)
    first = poll(client, task_id)
    assert first["task_info"]["status"] == "succeeded"
    assert first["videos"] == [f"http://testserver/__mock/assets/{task_id}/result_00.mp4"]
    assert "error" not in first["task_info"] and "error" not in first
    for step in [1, 60, 3600, 86400 * 30]:
        clock.advance(step)
        assert poll(client, task_id) == first


def test_realistic_durations_at_speed_one(client: SpecCheckedClient, clock: ManualClock) -> None:
    """The docs suggest one to five minutes; longer videos take longer."""
    finished: dict[int, list[float]] = {5: [], 10: [], 15: []}
    for duration in finished:
        ids = [create_ok(client, {**VALID_BODY, "duration": duration}) for _ in range(10)]
        for task_id in ids:
            task = client.app.state.store.get(task_id)  # type: ignore[attr-defined]
            finished[duration].append(task.queue_seconds + task.run_seconds)
    for duration, totals in finished.items():
        assert all(60 <= total <= 300 for total in totals), (duration, totals)
        assert len(set(totals)) > 1, "timings vary from task to task"
    assert max(finished[5]) < min(finished[15])


def test_speed_scales_the_whole_timeline(make_client: ClientFactory, clock: ManualClock) -> None:
    client = make_client(Settings(speed=600))
    task_id = create_ok(client)
    clock.advance(0.5)  # a task of at most 5 minutes takes at most 0.5 s at 600x
    assert poll(client, task_id)["task_info"]["status"] == "succeeded"


def test_the_legacy_vocabulary(make_client: ClientFactory, clock: ManualClock) -> None:
    client = make_client(Settings(vocabulary="legacy"))
    created = create(client).json()["task_info"]
    assert created["status"] == "pending"
    statuses = {b["task_info"]["status"] for b in history(client, clock, created["id"], 2.0, 200)}
    assert statuses == {"pending", "processing", "completed"}


def test_an_unknown_task_gets_404(client: SpecCheckedClient) -> None:
    for task_id in [str(uuid.uuid4()), "not-a-uuid", "x" * 300]:
        response = client.get(poll_path(task_id), headers=AUTH)
        assert response.status_code == 404
        body = response.json()
        assert body["error_code"] == 2005 and body["title"] == "Not Found"
        assert body["detail"].startswith("Task ") and body["detail"].endswith(" does not exist")
        assert len(body["detail"]) < 100


def test_a_task_id_is_read_case_insensitively(client: SpecCheckedClient) -> None:
    task_id = create_ok(client)
    assert poll(client, task_id.upper())["task_info"]["id"] == task_id


def test_timestamp_styles(make_client: ClientFactory) -> None:
    docs = create(make_client()).json()["task_info"]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", docs)
    micro = create(make_client(Settings(timestamps="micro"))).json()["task_info"]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", micro)
    assert datetime.fromisoformat(micro) == datetime.fromisoformat(docs.replace("Z", "+00:00"))


def test_a_seed_makes_ids_and_timings_repeat(make_client: ClientFactory) -> None:
    def run() -> list[tuple[str, float, float]]:
        client = make_client(Settings(seed=7))
        tasks = [client.app.state.store.get(create_ok(client)) for _ in range(3)]  # type: ignore[attr-defined]
        return [(t.id, t.queue_seconds, t.run_seconds) for t in tasks]

    assert run() == run()
    client = make_client(Settings(seed=7))
    first = create_ok(client)
    client.post("/__mock/reset")
    assert create_ok(client) == first


def test_the_store_forgets_the_oldest_task_past_its_capacity(make_client: ClientFactory) -> None:
    client = make_client(Settings(max_tasks=3))
    ids = [create_ok(client) for _ in range(4)]
    assert client.get(poll_path(ids[0]), headers=AUTH).status_code == 404
    for task_id in ids[1:]:
        assert poll(client, task_id)["task_info"]["id"] == task_id


# The domain function itself, over many clocks: phases only ever move forwards.
@pytest.mark.parametrize("failure_stage", [None, Phase.QUEUED, Phase.RUNNING])
def test_state_at_is_monotonic_and_terminal_states_are_final(failure_stage: Phase | None) -> None:
    failure = None if failure_stage is None else Failure(3001, "t", "d", failure_stage)
    task = plan_task("t", created_at=1000.0, video_seconds=10, prompt_extend=True, speed=1.0, failure=failure)
    order = {Phase.QUEUED: 0, Phase.RUNNING: 1, Phase.SUCCEEDED: 2, Phase.FAILED: 2}
    previous = state_at(task, 1000.0)
    for tenth in range(4000):
        state = state_at(task, 1000.0 + tenth / 10)
        assert order[state.phase] >= order[previous.phase]
        assert state.since >= previous.since
        if previous.phase.terminal:
            assert state == previous
        previous = state
    assert previous.phase is (Phase.SUCCEEDED if failure is None else Phase.FAILED)
    if failure_stage is Phase.QUEUED:
        assert all(state_at(task, 1000.0 + t).phase is not Phase.RUNNING for t in range(400))


def test_a_stalled_task_never_finishes() -> None:
    task = plan_task("t", created_at=0.0, video_seconds=5, prompt_extend=False, speed=1.0, stall=True)
    assert math.isinf(task.run_seconds)
    assert state_at(task, 10.0**12).phase is Phase.RUNNING


def test_a_task_cannot_fail_from_a_terminal_phase() -> None:
    with pytest.raises(ValueError, match="only fail from queued or running"):
        Failure(3001, "t", "d", Phase.SUCCEEDED)
    assert Task("x", 0.0, 1.0, 1.0).failure is None


@pytest.mark.parametrize("vocabulary", ["guide", "legacy"])
@pytest.mark.parametrize("placement", ["task_info", "top_level"])
@pytest.mark.parametrize("style", ["seconds", "micro"])
def test_the_poll_template_writes_what_json_would(vocabulary: str, placement: Any, style: Any) -> None:
    from mockserver.presenter import Presenter
    from sparkspec.openapi import ApiSpec

    words = ApiSpec.load().lifecycle.vocabularies[vocabulary]
    presenter = Presenter(words, placement, style)
    failure = Failure(3001, 'A "quoted" title', "détail")
    for task in (Task("3c90c3cc-0d44-4b50-8888-8dd25736052a", 1.7e9, 3.0, 5.0), Task("x", 1.7e9, 3.0, 5.0, failure)):
        for now in (1.7e9 + 1, 1.7e9 + 4, 1.7e9 + 9):
            state = state_at(task, now)
            expected = presenter.result(task, state, "http://h:1/")
            written = presenter.result_json(task, state, lambda: "http://h:1/")
            assert json.loads(written) == expected
            assert list(json.loads(written)) == list(expected)  # the same keys, in the same order
