"""The fast lane: the API's operations answered past Starlette's router, the same as through it."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope

from mockserver import Settings, create_app
from mockserver.errors import ApiError
from mockserver.fastlane import Lane, Lanes, Reply, answer
from tests.conftest import AUTH, CREATE_PATH, VALID_BODY, poll_path


async def _ok(scope: Scope, receive: Receive) -> Reply:
    return Reply(200, b"{}")


def _scope(method: str, path: str, **more: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": [], **more}


def test_lanes_match_the_exact_method_and_path_and_one_last_parameter() -> None:
    lanes = Lanes([Lane("POST", "/a/b", _ok), Lane("GET", "/a/b/{task_id}", _ok)])
    assert lanes.find(_scope("POST", "/a/b")) is _ok
    scope = _scope("GET", "/a/b/123")
    assert lanes.find(scope) is _ok and scope["path_params"] == {"task_id": "123"}
    for method, path in [("GET", "/a/b"), ("POST", "/a/b/"), ("GET", "/a/b/"), ("GET", "/a/b/1/2"), ("PUT", "/a/b")]:
        assert lanes.find(_scope(method, path)) is None, (method, path)
    assert lanes.find(_scope("POST", "/a/b", root_path="/x")) is None  # the router knows what to strip


def test_a_lane_with_a_parameter_in_the_middle_is_refused() -> None:
    with pytest.raises(ValueError, match="one path parameter"):
        Lanes([Lane("GET", "/a/{x}/b", _ok)])


async def _run(handler: Any) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await answer(handler, _scope("POST", "/"), receive, send, ((b"traceparent", b"t"),))
    return sent


@pytest.mark.anyio
async def test_an_api_error_and_a_crash_become_error_replies(caplog: pytest.LogCaptureFixture) -> None:
    async def refuses(scope: Scope, receive: Receive) -> Reply:
        raise ApiError(429, "slow down", headers={"Retry-After": "3"})

    async def crashes(scope: Scope, receive: Receive) -> Reply:
        raise RuntimeError("boom")

    start, body = await _run(refuses)
    assert start["status"] == 429 and (b"retry-after", b"3") in start["headers"]
    assert (b"traceparent", b"t") in start["headers"]
    assert json.loads(body["body"]) == {"error_code": 429, "title": "Too Many Requests", "detail": "slow down"}
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        start, body = await _run(crashes)
    assert start["status"] == 500 and json.loads(body["body"])["error_code"] == 500
    assert "boom" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize("through", ["lane", "router"])
async def test_the_router_answers_as_the_lane_does(through: str) -> None:
    """Under a root path the router serves the API's operations, through the same handlers."""
    app = create_app(Settings())
    root = "/under" if through == "router" else ""
    transport = httpx.ASGITransport(app=app, root_path=root)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        created = await client.post(root + CREATE_PATH, json=VALID_BODY, headers=AUTH)
        assert created.status_code == 202, created.text
        task_id = created.json()["task_info"]["id"]
        polled = await client.get(root + poll_path(task_id), headers=AUTH)
        assert polled.status_code == 200 and polled.json()["task_info"]["id"] == task_id
        refused = await client.post(root + CREATE_PATH, json={**VALID_BODY, "seed": -1}, headers=AUTH)
        assert refused.status_code == 400 and "seed" in refused.json()["detail"]
        assert "traceparent" in refused.headers
    journal = app.state.journal.entries()
    assert [e.status for e in journal] == [202, 200, 400]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
