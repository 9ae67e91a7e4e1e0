"""Scenarios: a create can ask for a failed task, a stalled one, or a 402/429/500 of its own."""

from __future__ import annotations

import pytest

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from mockserver.scenarios import ScenarioError, ScenarioParser
from mockserver.settings import SettingsError
from sparkspec.openapi import ApiSpec
from tests.helpers import ClientFactory, SpecCheckedClient, create, create_ok, poll

CODES = [3001, 3002, 3003, 3004, 3005, 4002, 4008]


def statuses_until_terminal(client: SpecCheckedClient, clock: ManualClock, task_id: str) -> list[str]:
    seen: list[str] = []
    for _ in range(400):
        status = poll(client, task_id)["task_info"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("succeeded", "failed"):
            break
        clock.advance(1.0)
    return seen


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("stage", ["queued", "running"])
def test_a_task_fails_with_the_requested_code_at_the_requested_stage(
    client: SpecCheckedClient, clock: ManualClock, code: int, stage: str
) -> None:
    task_id = create_ok(client, None, **{"X-Mock-Scenario": f"fail={code}; stage={stage}"})
    expected = ["queued", "failed"] if stage == "queued" else ["queued", "running", "failed"]
    assert statuses_until_terminal(client, clock, task_id) == expected
    body = poll(client, task_id)
    error = body["task_info"]["error"]
    assert error["code"] == error["error_code"] == code
    assert error["title"] and error["detail"].endswith(f"(failure {code} simulated by the mock)")
    assert "videos" not in body


def test_failing_while_running_is_the_default_stage(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client, None, **{"X-Mock-Scenario": "fail=3005"})
    assert statuses_until_terminal(client, clock, task_id) == ["queued", "running", "failed"]
    assert poll(client, task_id)["task_info"]["error"]["title"] == "External service execution failed"


def test_the_error_can_sit_at_the_top_level(make_client: ClientFactory, clock: ManualClock) -> None:
    client = make_client(Settings(error_placement="top_level"))
    task_id = create_ok(client, None, **{"X-Mock-Scenario": "fail=4008"})
    clock.advance(1000)
    body = poll(client, task_id)
    assert body["task_info"]["status"] == "failed"
    assert "error" not in body["task_info"]
    assert body["error"]["error_code"] == 4008


def test_a_stalled_task_stays_running(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client, None, **{"X-Mock-Scenario": "stall"})
    clock.advance(60)
    assert poll(client, task_id)["task_info"]["status"] == "running"
    clock.advance(86400 * 365)
    assert poll(client, task_id)["task_info"]["status"] == "running"


@pytest.mark.parametrize(
    ("scenario", "status", "retry_after"),
    [
        ("status=402", 402, None),
        ("status=403", 403, None),
        ("status=409", 409, None),
        ("status=423", 423, None),
        ("status=429", 429, "5"),
        ("status=429; retry-after=17", 429, "17"),
        ("status=451", 451, None),
        ("status=500", 500, None),
        ("status=502", 502, None),
        ("status=503", 503, None),
        ("status=504", 504, None),
    ],
)
def test_the_create_itself_can_answer_each_documented_error_status(
    client: SpecCheckedClient, scenario: str, status: int, retry_after: str | None
) -> None:
    response = create(client, None, **{"X-Mock-Scenario": scenario})
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    body = response.json()
    assert body["error_code"] == status and "simulated by the mock" in body["detail"]
    assert client.get("/__mock/health").json()["tasks"] == 0  # nothing was created


def test_outcomes_are_deterministic(client: SpecCheckedClient, clock: ManualClock) -> None:
    ids = [create_ok(client, None, **{"X-Mock-Scenario": "fail=3002"}) for _ in range(5)]
    clock.advance(1000)
    assert {poll(client, task_id)["task_info"]["error"]["code"] for task_id in ids} == {3002}


@pytest.mark.parametrize(
    ("scenario", "why"),
    [
        ("explode", "unknown item 'explode'"),
        ("fail=9999", "'9999' is not a documented task error code"),
        ("fail=3001; stage=done", "stage must be queued or running"),
        ("status=418", "status must be one of 402, 403, 409, 423, 429, 451, 500, 502, 503, 504"),
        ("status=429; retry-after=soon", "retry-after must be a whole number"),
        ("status=402; retry-after=3", "'retry-after' only goes with 'status=429'"),
        ("stage=queued", "'stage' only goes with 'fail'"),
        ("fail=3001; status=500", "at most one of succeed, stall, fail, status or drop"),
        ("status=503; poll-2=503", "only go with a task"),
        ("lose-answer=404", "lose-answer must be one of drop|500|502|503|504"),
        ("poll-2=404", "'poll-2' must be one of drop|429|500|502|503|504"),
        ("poll-0=503", "the n of 'poll-0' must be 1 to 100"),
        ("delay=3-1", "delay must be seconds or a range of them"),
        ("delay=601", "delay must be seconds or a range of them, 0 to 600"),
        ("trickle=0", "trickle must be seconds, more than 0"),
        ("drop; trickle=2", "'trickle' does not go with 'drop'"),
        ("succeed; succeed", "'succeed' is given twice"),
        ("stall=1", "'stall' takes no value"),
        ("", "it is empty"),
    ],
)
def test_an_unknown_scenario_gets_a_clear_400(client: SpecCheckedClient, scenario: str, why: str) -> None:
    response = create(client, None, **{"X-Mock-Scenario": scenario})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("X-Mock-Scenario: cannot use") and why in detail, detail
    assert "3001, 3002, 3003, 3004, 3005, 4002, 4008" in detail  # says what is allowed


def test_the_scenario_header_is_case_insensitive_and_succeed_is_explicit(client: SpecCheckedClient) -> None:
    assert create(client, None, **{"X-Mock-Scenario": " Succeed "}).status_code == 202
    assert create(client, None, **{"X-Mock-Scenario": "FAIL=3001;STAGE=QUEUED"}).status_code == 202


def test_a_default_scenario_applies_to_creates_without_the_header(
    make_client: ClientFactory, clock: ManualClock
) -> None:
    client = make_client(Settings(scenario="fail=3003"))
    task_id = create_ok(client)
    clock.advance(1000)
    assert poll(client, task_id)["task_info"]["error"]["code"] == 3003
    assert create(client, None, **{"X-Mock-Scenario": "status=402"}).status_code == 402


def test_a_bad_default_scenario_fails_at_start() -> None:
    with pytest.raises(SettingsError, match="scenario"):
        create_app(Settings(scenario="fail=1"))


def test_the_parser_takes_its_codes_from_the_spec(spec: ApiSpec) -> None:
    with pytest.raises(ValueError, match="no task error codes"):
        ScenarioParser({}, (402, 429, 500), 429)
    with pytest.raises(ScenarioError):
        ScenarioParser({1: object()}, (402, 429, 500), 429).parse("fail=3001")  # type: ignore[dict-item]
    assert sorted(e.code for e in spec.task_error_codes) == CODES
