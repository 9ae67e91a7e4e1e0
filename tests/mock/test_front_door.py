"""The front door: one table of routes for the API, the admin API and the video; one way to answer errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from mockserver.errors import ApiError
from mockserver.frontdoor import Call, FrontDoor, Reply, Route, Routes
from mockserver.journal import Journal
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, ClientFactory, SpecCheckedClient, create_ok, poll_path


async def _ok(call: Call) -> Reply:
    return Reply(200, json.dumps(call.params).encode())


def test_routes_match_exact_paths_a_last_parameter_and_a_parameter_in_the_middle() -> None:
    routes = Routes(
        [Route("POST", "/a/b", _ok), Route("GET", "/a/b/{task_id}", _ok), Route("GET", "/x/{id}/y", _ok, head=True)]
    )
    assert routes.find("POST", "/a/b") == (routes.find("POST", "/a/b")[0], {})
    assert routes.find("GET", "/a/b/123")[1] == {"task_id": "123"}
    assert routes.find("HEAD", "/x/7/y")[1] == {"id": "7"}
    for method, path, status in [
        ("GET", "/a/b", 405),
        ("POST", "/a/b/", 404),
        ("GET", "/a/b/", 404),
        ("GET", "/a/b/1/2", 404),
        ("PUT", "/a/b", 405),
        ("HEAD", "/a/b/1", 405),  # only what is declared: no HEAD for a GET without head=True
        ("GET", "/x//y", 404),
    ]:
        with pytest.raises(ApiError) as caught:
            routes.find(method, path)
        assert caught.value.status == status, (method, path)
    with pytest.raises(ApiError) as caught:
        routes.find("DELETE", "/x/1/y")
    assert caught.value.headers == {"Allow": "GET, HEAD"}


async def _run(handler: Any) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("an HTTP request went past the front door")

    routes = Routes([Route("POST", "/", handler)])
    door = FrontDoor(routes, Journal(10), ManualClock(), unjournaled_prefix="/_", other=no_lifespan)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"traceparent", b"t")]}
    await door(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_an_api_error_and_a_crash_become_error_replies(caplog: pytest.LogCaptureFixture) -> None:
    async def refuses(call: Call) -> Reply:
        raise ApiError(429, "slow down", headers={"Retry-After": "3"})

    async def crashes(call: Call) -> Reply:
        raise RuntimeError("boom")

    start, body = await _run(refuses)
    assert start["status"] == 429 and (b"retry-after", b"3") in start["headers"]
    assert any(name == b"traceparent" for name, _ in start["headers"])
    assert json.loads(body["body"]) == {"error_code": 429, "title": "Too Many Requests", "detail": "slow down"}
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        start, body = await _run(crashes)
    assert start["status"] == 500 and json.loads(body["body"])["error_code"] == 500
    assert "boom" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize("root", ["", "/under"])
async def test_under_a_root_path_the_mock_answers_as_at_the_root(root: str) -> None:
    app = create_app(Settings())
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
        assert (await client.get(root + "/__mock/health")).status_code == 200  # not journaled, under a root too
    journal = app.state.journal.entries()
    assert [e.status for e in journal] == [202, 200, 400]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_an_admin_path_with_a_trailing_slash_is_redirected_as_starlette_did(client: SpecCheckedClient) -> None:
    moved = client.get("/__mock/health/?x=1", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "http://testserver/__mock/health?x=1"
    assert "traceparent" in moved.headers
    assert client.get("/__mock/health/").json()["status"] == "ok"  # followed
    assert client.get("/__mock/nothing/", follow_redirects=False).status_code == 404
    assert client.get(CREATE_PATH + "/", headers=AUTH, follow_redirects=False).status_code == 404  # not the API's


def test_a_crash_before_the_video_starts_is_a_500_in_the_api_shape(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(Settings(video="fixed"))
    task_id = create_ok(client)
    client.post("/__mock/clock/advance", json={"seconds": 1000})
    monkeypatch.setattr("mockserver.downloads.video_path", lambda: Path("/no/such/file.mp4"))
    with caplog.at_level(logging.ERROR, logger="mockserver"):
        response = client.get(f"/__mock/assets/{task_id}/result_00.mp4")
    assert response.status_code == 500 and response.json()["error_code"] == 500
    assert "traceparent" in response.headers and "unhandled error" in caplog.text


@pytest.mark.anyio
async def test_under_a_root_path_a_404_shows_the_path_as_requested() -> None:
    transport = httpx.ASGITransport(app=create_app(Settings()), root_path="/under")
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        missing = await client.get("/under/nowhere")
    assert missing.status_code == 404 and missing.json()["detail"] == "No route for GET /under/nowhere"
