"""Every response carries a Traceparent; errors outside the operations keep the API's error shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.frontdoor import traceparent
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, SpecCheckedClient, create, create_ok, poll_path

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def test_every_kind_of_response_carries_a_traceparent(client: SpecCheckedClient) -> None:
    task_id = create_ok(client)
    client.post("/__mock/clock/advance", json={"seconds": 1000})
    responses = [
        create(client),  # 202
        client.get(poll_path(task_id), headers=AUTH),  # 200
        create(client, {"prompt": 1}),  # 400
        client.post(CREATE_PATH, json=VALID_BODY),  # 401
        create(client, None, **{"X-Mock-Scenario": "status=402"}),
        create(client, None, **{"X-Mock-Scenario": "status=429"}),
        create(client, None, **{"X-Mock-Scenario": "status=500"}),
        client.post(CREATE_PATH, content=b"x", headers={**AUTH, "Content-Type": "text/plain"}),  # 415
        client.get(poll_path("00000000-0000-4000-8000-000000000000"), headers=AUTH),  # 404
        client.delete(CREATE_PATH, headers=AUTH),  # 405
        client.get("/no/such/path"),  # 404
        client.get(f"/__mock/assets/{task_id}/result_00.mp4"),  # the video
        client.get("/__mock/health"),  # admin
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [202, 200, 400, 401, 402, 429, 500, 415, 404, 405, 404, 200, 200]
    traces = [r.headers["traceparent"] for r in responses]
    assert all(TRACEPARENT.match(t) for t in traces)
    assert len({t.split("-")[1] for t in traces}) == len(traces)  # a new trace for each request


def test_a_callers_trace_is_continued() -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    out = traceparent(incoming)
    assert out.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and out.endswith("-01")
    assert out.split("-")[2] != "00f067aa0ba902b7"
    for bad in [
        None,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ]:
        fresh = traceparent(bad)
        assert TRACEPARENT.match(fresh) and "4bf92f" not in fresh


@pytest.mark.parametrize("extra_headers", [0, 60])
def test_the_mock_continues_the_trace_a_request_brings(client: SpecCheckedClient, extra_headers: int) -> None:
    """For an operation and an unknown path alike, however many headers come before it."""
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = {**{f"x-filler-{i}": "f" for i in range(extra_headers)}, "traceparent": incoming}
    for response in (create(client, None, **headers), client.get("/no/such/path", headers=headers)):
        assert response.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not create(client).headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


def test_method_not_allowed_says_which_methods_are(client: SpecCheckedClient) -> None:
    response = client.put(CREATE_PATH, headers=AUTH)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json() == {
        "error_code": 405,
        "title": "Method Not Allowed",
        "detail": "Method PUT is not allowed here; allowed methods are POST",
    }
    assert client.post(poll_path("x"), headers=AUTH).headers["allow"] == "GET"
    assert client.head(poll_path("x"), headers=AUTH).status_code == 405  # the spec documents no HEAD


def test_a_crash_is_a_500_in_the_api_shape_with_a_traceparent(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings())

    def boom(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        task_id = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
        monkeypatch.setattr(app.state.tasks, "read", boom)
        response = client.get(poll_path(task_id), headers=AUTH)
    assert response.status_code == 500
    assert TRACEPARENT.match(response.headers["traceparent"])
    body = response.json()
    assert body["error_code"] == 500 and "secret internals" not in body["detail"]


@pytest.mark.parametrize("path", ["/", "/vendors", "/vendors/mulerouter/v1/wan2.6-i2v-spark", CREATE_PATH + "/a/b"])
def test_unknown_paths_get_404_in_the_api_shape(client: SpecCheckedClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error_code"] == 404 and response.json()["detail"].startswith("No route for GET")
