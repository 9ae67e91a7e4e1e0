"""What the tests share besides fixtures: the requests they send, a client that checks every answer against the
spec, and a way to serve an app on a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from contract_tests.conformance import ResponseChecker

REPO = Path(__file__).resolve().parent.parent
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

    The check is the contract suites' own (:class:`~contract_tests.conformance.ResponseChecker`):
    the status must be documented, and the headers, content type and body must match, under the
    contract's full reading (the mock takes the contract's side of every disputed or assumed rule).
    Every response, of any route, must carry a ``Traceparent``. A test that gets a response the
    spec does not allow fails at once.
    """

    def __init__(self, app: Any, checker: ResponseChecker, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.checker = checker

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(method, url, **kwargs)
        check_response(self.checker, response)
        return response


def check_response(checker: ResponseChecker, response: httpx.Response) -> None:
    """Fail unless ``response`` carries a Traceparent and conforms to the spec (if it answers an operation)."""
    request = response.request
    assert "traceparent" in response.headers, f"{request.method} {request.url}: no Traceparent"
    found = checker.problems(
        request.method, str(request.url), response.status_code, dict(response.headers), response.content
    )
    assert not found, (
        f"the mock's {response.status_code} to {request.method} {request.url.path} breaks the spec: "
        f"{[p.problem for p in found]}: {response.text[:300]}"
    )


ClientFactory = Callable[..., SpecCheckedClient]


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


@contextmanager
def serve(app: ASGIApp, port: int, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread, for as long as the block runs
    (``lifespan="on"`` runs the app's lifespan, which the mock's webhooks stop with)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server on port {port} did not start")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def webhook_log(
    client: httpx.Client | TestClient, done: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """``GET /__mock/webhooks`` once ``done`` holds of it (or ``timeout`` has passed): attempts are logged once
    answered, and the counts are the webhook process's last report, a quarter of a second old at most."""
    deadline = time.monotonic() + timeout
    while True:
        log: dict[str, Any] = client.get("/__mock/webhooks").json()
        if done(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.02)
