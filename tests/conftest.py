"""Shared fixtures: the spec, a manual clock, and clients whose every response is checked against the spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from sparkspec.openapi import ApiSpec

CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
AUTH = {"Authorization": "Bearer sk-mr-test-key"}
VALID_BODY: dict[str, Any] = {
    "prompt": "A black cat looks up at the sky",
    "image": "https://example.com/first_frame.jpg",
}


def poll_path(task_id: str) -> str:
    return f"{CREATE_PATH}/{task_id}"


class SpecCheckedClient(TestClient):
    """A TestClient that checks each response to an operation of the spec against the spec.

    The check is openapi-core's own response validation: the status must be documented, and the
    headers, content type and body must match. Every response, of any route, must carry a
    ``Traceparent``. A test that gets a response the spec does not allow fails at once.
    """

    def __init__(self, app: Any, openapi: OpenAPI, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.openapi = openapi

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(method, url, **kwargs)
        check_response(self.openapi, response)
        return response


def check_response(openapi: OpenAPI, response: httpx.Response) -> None:
    assert "traceparent" in response.headers, f"{response.request.method} {response.request.url}: no Traceparent"
    path = urlsplit(str(response.request.url)).path
    request = MockRequest("http://testserver", response.request.method.lower(), path)
    content_type = response.headers.get("content-type", "").split(";")[0]
    mock = MockResponse(
        response.content, status_code=response.status_code, headers=dict(response.headers), content_type=content_type
    )
    try:
        openapi.validate_response(request, mock)
    except (PathNotFound, OperationNotFound):
        return  # not an operation of the spec: admin, assets, an unknown path or method
    except Exception as exc:
        raise AssertionError(
            f"the mock's {response.status_code} to {request.method.upper()} {path} breaks the spec: "
            f"{exc!r}: {response.text[:300]}"
        ) from exc


@pytest.fixture(scope="session")
def spec() -> ApiSpec:
    return ApiSpec.load()


@pytest.fixture(scope="session")
def openapi(spec: ApiSpec) -> OpenAPI:
    return OpenAPI.from_dict(spec.localized("/"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


ClientFactory = Callable[..., SpecCheckedClient]


@pytest.fixture
def make_client(spec: ApiSpec, openapi: OpenAPI, clock: ManualClock) -> Iterator[ClientFactory]:
    """Build a spec-checked client for a mock with the given settings (on the test's manual clock)."""
    clients: list[SpecCheckedClient] = []

    def factory(settings: Settings | None = None, **kwargs: Any) -> SpecCheckedClient:
        app = create_app(settings or Settings(), clock=kwargs.pop("clock", clock), spec=spec)
        client = SpecCheckedClient(app, openapi, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SpecCheckedClient:
    return make_client()


def create(client: TestClient, body: Any = None, **headers: str) -> httpx.Response:
    """POST a create with auth; ``body`` defaults to a valid one."""
    return client.post(CREATE_PATH, json=VALID_BODY if body is None else body, headers={**AUTH, **headers})


def create_ok(client: TestClient, body: Any = None, **headers: str) -> str:
    """Create a task that must be accepted; return its id."""
    response = create(client, body, **headers)
    assert response.status_code == 202, response.text
    return str(response.json()["task_info"]["id"])


def poll(client: TestClient, task_id: str) -> dict[str, Any]:
    response = client.get(poll_path(task_id), headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
