"""The mock answers the way the official clients read answers (api-facts §9).

The official npm CLI and Python skill cannot be installed here, and their code may not be copied
into this repository. So this file restates, in its own code, the reading rules those clients
follow (openmule/mulerouter-cli ``packages/core/src/task.ts`` and ``client.ts``; the skills'
``core/task.py`` and ``core/client.py``), and runs them unchanged against the mock:

- the create's task id is ``task_info.id``;
- the status is ``task_info.status``; both vocabularies are known, any other word counts as
  ``pending`` (keep polling); ``completed``/``succeeded`` succeed, ``failed`` fails;
- a succeeded task's results are the array under the result key (``videos``);
- a failed task's message is ``task_info.error.detail``, else ``.title``, else the error as JSON;
- an HTTP error's message is the body's ``detail``, else ``error``, else ``message``, else
  ``task_info.error.detail`` / ``.title``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from mockserver.launcher import free_port
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, ClientFactory, serve
from tests.skill_client import SkillClient
from tests.video_probe import probe

KNOWN = {"pending", "queued", "running", "processing", "completed", "succeeded", "failed"}
SUCCESS = {"completed", "succeeded"}
TERMINAL = SUCCESS | {"failed"}


@dataclass
class ClientResult:
    task_id: str
    status: str
    results: list[str] | None = None
    error: str | None = None


def read_task(data: dict[str, Any], result_key: str = "videos") -> ClientResult:
    info = data.get("task_info") or {}
    status = str(info.get("status", "pending"))
    status = status if status in KNOWN else "pending"
    error = None
    if status == "failed":
        detail = info.get("error")
        if isinstance(detail, dict):
            error = detail.get("detail") or detail.get("title") or json.dumps(detail)
        elif detail is not None:
            error = str(detail)
    results = data.get(result_key) if status in SUCCESS else None
    return ClientResult(str(info.get("id", "")), status, results, error)


def read_http_error(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])
        error = (data.get("task_info") or {}).get("error") or {}
        if error.get("detail") or error.get("title"):
            return str(error.get("detail") or error.get("title"))
    return "Unknown error"


def create_and_poll(client: TestClient, clock: ManualClock, body: dict[str, Any], **headers: str) -> ClientResult:
    """What ``createAndPollTask`` does: create, then poll every 20 s until a terminal status."""
    response = client.post(CREATE_PATH, json=body, headers={**AUTH, **headers})
    if not response.is_success:
        return ClientResult("", "failed", error=read_http_error(response.json()))
    task_id = (response.json().get("task_info") or {}).get("id")
    if not task_id:
        return ClientResult("", "failed", error="No task ID returned")
    for _ in range(100):
        polled = client.get(f"{CREATE_PATH}/{task_id}", headers=AUTH)
        if not polled.is_success:
            return ClientResult(task_id, "failed", error=read_http_error(polled.json()))
        result = read_task(polled.json())
        if result.status in TERMINAL:
            return result
        clock.advance(20)
    raise AssertionError("the client timed out")


@pytest.mark.parametrize("vocabulary", ["guide", "legacy"])
def test_a_successful_generation(make_client: ClientFactory, clock: ManualClock, vocabulary: str) -> None:
    client = make_client(Settings(vocabulary=vocabulary))
    result = create_and_poll(client, clock, VALID_BODY)
    assert result.status == ("succeeded" if vocabulary == "guide" else "completed")
    assert result.results is not None and len(result.results) == 1
    assert result.results[0].endswith(f"/{result.task_id}/result_00.mp4")
    assert client.get(result.results[0]).status_code == 200


def test_a_failed_generation_reports_the_errors_detail(make_client: ClientFactory, clock: ManualClock) -> None:
    result = create_and_poll(make_client(), clock, VALID_BODY, **{"X-Mock-Scenario": "fail=3001"})
    assert result.status == "failed"
    assert (
        result.error == "The upstream model provider could not complete the task (failure 3001 simulated by the mock)"
    )


def test_with_the_error_at_the_top_level_the_official_clients_lose_it(
    make_client: ClientFactory, clock: ManualClock
) -> None:
    """Why the mock puts the error in task_info by default: the clients only look there."""
    client = make_client(Settings(error_placement="top_level"))
    result = create_and_poll(client, clock, VALID_BODY, **{"X-Mock-Scenario": "fail=3001"})
    assert result.status == "failed" and result.error is None


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"prompt": "x"}, {}, "image: is required"),
        (VALID_BODY, {"X-Mock-Scenario": "status=402"}, "Insufficient balance (simulated by the mock)"),
        (
            VALID_BODY,
            {"Authorization": "Basic abc"},
            "Invalid Authorization header format; expected 'Bearer <API key>'",
        ),
    ],
)
def test_http_errors_are_read_from_detail(
    make_client: ClientFactory, clock: ManualClock, body: dict[str, Any], headers: dict[str, str], message: str
) -> None:
    result = create_and_poll(make_client(), clock, body, **headers)
    assert (result.status, result.error) == ("failed", message)


def test_an_unknown_task_is_an_http_error_with_a_detail(make_client: ClientFactory) -> None:
    response = make_client().get(f"{CREATE_PATH}/00000000-0000-4000-8000-000000000000", headers=AUTH)
    assert read_http_error(response.json()) == "Task 00000000-0000-4000-8000-000000000000 does not exist"


@pytest.mark.socket
def test_the_skill_client_gets_a_15_s_video_for_a_15_s_request() -> None:
    """Over a real socket and in real time (at speed 600 the task lasts about 0.3 s, its rendering longer):
    the skill's client creates, polls, then fetches the URL it was given, with its retries and timeout."""
    with serve(create_app(Settings(speed=600)), free_port()) as url, SkillClient(url, "sk-mr-test-key") as client:
        outcome = client.create_and_poll(CREATE_PATH, {**VALID_BODY, "duration": 15})
        assert outcome.status == "succeeded" and len(outcome.results) == 1
        download = client.request("GET", outcome.results[0])
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    video = probe(download.content)
    assert video.problems == [] and video.duration == pytest.approx(15.0, abs=1e-3)
