"""A pytest plugin: the mock as fixtures, for the test suites of applications that call the API.

Installing the package registers it (the ``pytest11`` entry point); there is nothing to import.

``spark_mock``
    A mock served over a real socket by ``spark-mock``, one per test session, reset before each test
    (tasks, journal, clock and queued outcomes). Point the application under test at
    ``spark_mock.url`` with ``spark_mock.api_key``.
``spark_mock_asgi``
    The same mock in the test's own process, for an application that takes an httpx transport:
    ``httpx.AsyncClient(transport=spark_mock_asgi.transport, base_url=spark_mock_asgi.url)``. No port,
    no process; a fresh mock for each test.

``spark_webhooks``
    A :class:`~mockserver.webhook_receiver.WebhookReceiver` on a real socket, registered with
    ``spark_mock`` as a webhook endpoint for this test: it keeps every delivery, checks its signature
    (``delivery.verified``), and ``wait_for("task.succeeded", task_id)`` waits for one.

Both mocks have the same controls: :meth:`~SparkMock.advance` moves the clock, :meth:`~SparkMock.queue`
sets the outcome of the next creates, :meth:`~SparkMock.requests` and :meth:`~SparkMock.tasks` say
what the mock received and made, :meth:`~SparkMock.webhook_attempts` what it sent. When a test that
used one fails, its report gets a section that lists what the mock received.

The mock only accepts ``api_key`` (``MOCK_API_KEYS``), so a test also shows that the application
sends the key it was given. Other settings come from the ``spark_mock_settings`` fixture: override it
(session-scoped) in a ``conftest.py`` with ``MOCK_*`` names and values, as ``make mock`` takes them.
Unless it says otherwise, the plugin's mocks retry a webhook after 0.05, 0.1 and 0.2 s
(``MOCK_WEBHOOK_BACKOFF=0.05``), so that a test of a receiver's failures runs fast.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.journal import JournalEntry
from mockserver.launcher import MockProcess, launch
from mockserver.outcome_queue import enqueue
from mockserver.settings import Settings
from mockserver.webhook_endpoints import new_secret
from mockserver.webhook_receiver import WebhookReceiver

ADMIN = "/__mock"
# Fast webhook retries in tests, unless spark_mock_settings says otherwise.
_DEFAULTS = {"MOCK_LOG_LEVEL": "warning", "MOCK_WEBHOOK_BACKOFF": "0.05"}
_SHOWN_REQUESTS = 30
_USED: pytest.StashKey[SparkMock] = pytest.StashKey()


class SparkMock(ABC):
    """A mock that a test talks to, and steers: see the module. Subclasses say how it is reached."""

    url: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header the mock accepts."""
        return {"Authorization": f"Bearer {self.api_key}"}

    @abstractmethod
    def advance(self, seconds: float) -> None:
        """Move the mock's clock ``seconds`` forwards: tasks move on as if that time had passed."""

    @abstractmethod
    def queue(self, *outcomes: str, operation: str = "create", api_key: str | None = None) -> None:
        """Set the outcomes of the next valid creates sent without ``X-Mock-Scenario`` (or, with
        ``operation="poll"``, of the next polls), one each, in order; then normal service again. Each is
        a scenario text: ``"status=503"``, ``"status=429; retry-after=2"``, ``"fail=3001"``, ``"stall"``,
        ``"drop"``, ``"succeed; lose-answer=drop"``, ``"delay=3"``; for polls ``"ok"``, ``"status=503"``,
        ``"drop"``. With ``api_key``, only requests with that key take them.
        """

    @abstractmethod
    def requests(self) -> list[JournalEntry]:
        """What the mock received since the test began, oldest first (keys redacted)."""

    @abstractmethod
    def tasks(self) -> list[dict[str, Any]]:
        """The tasks it made since the test began, oldest first: ``task_info``, phase and timeline."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every task, request and queued outcome; the clock returns to real time."""

    @abstractmethod
    def add_webhook(self, url: str, secret: str) -> str:
        """Send every event to ``url`` too, signed with ``secret``, until the next reset; the endpoint's id."""

    @abstractmethod
    def webhook_attempts(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt since the test began, oldest first (``GET /__mock/webhooks``)."""

    def received(self) -> str:
        """What the mock received, a line per request: for failure messages."""
        entries = self.requests()
        if not entries:
            return "the mock received no request"
        lines = [_describe(entry) for entry in entries[-_SHOWN_REQUESTS:]]
        if len(entries) > _SHOWN_REQUESTS:
            lines.insert(0, f"(the last {_SHOWN_REQUESTS} of {len(entries)})")
        return "\n".join(lines)


class SocketMock(SparkMock):
    """``spark-mock`` in a process of its own, steered through its admin API."""

    def __init__(self, process: MockProcess, api_key: str) -> None:
        self.process = process
        self.url = process.url
        self.api_key = api_key
        self._admin = httpx.Client(base_url=process.url + ADMIN, timeout=30)

    def advance(self, seconds: float) -> None:
        self._call("POST", "/clock/advance", {"seconds": seconds})

    def queue(self, *outcomes: str, operation: str = "create", api_key: str | None = None) -> None:
        payload = {"operation": operation, "outcomes": list(outcomes), "api_key": api_key}
        self._call("POST", "/scenarios", payload)

    def requests(self) -> list[JournalEntry]:
        return [JournalEntry(**entry) for entry in self._call("GET", "/requests")["requests"]]

    def tasks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/tasks", params={"limit": "1000000"})["tasks"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def add_webhook(self, url: str, secret: str) -> str:
        return str(self._call("POST", "/webhooks/endpoints", {"url": url, "secret": secret})["endpoint"]["id"])

    def webhook_attempts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/webhooks")["attempts"])

    def close(self) -> None:
        self._admin.close()

    def _call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        response = self._admin.request(method, path, json=body, params=params)
        if response.status_code not in (200, 201):
            detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
            raise ValueError(f"the mock refused {method} {ADMIN}{path}: {detail}")
        return response.json()


class AsgiMock(SparkMock):
    """The mock's app in this process, reached through :attr:`transport` and steered directly."""

    def __init__(self, settings: Settings, api_key: str) -> None:
        self.app = create_app(settings)
        self.transport = httpx.ASGITransport(app=self.app)
        self.url = "http://spark-mock.test"
        self.api_key = api_key

    def advance(self, seconds: float) -> None:
        self.app.state.clock.advance(float(seconds))
        self.app.state.webhooks.wake()  # events the move made due go out now

    def queue(self, *outcomes: str, operation: str = "create", api_key: str | None = None) -> None:
        enqueue(self.app.state.queue, self.app.state.scenarios, operation, list(outcomes), api_key)

    def requests(self) -> list[JournalEntry]:
        return list(self.app.state.journal.entries())

    def tasks(self) -> list[dict[str, Any]]:
        service, admin = self.app.state.tasks, self.app.state.admin
        return [admin.describe(task) for task in service.recent(len(service))]

    def reset(self) -> None:
        self.app.state.admin.forget()

    def add_webhook(self, url: str, secret: str) -> str:
        webhooks = self.app.state.webhooks
        endpoint = webhooks.endpoints.add(url, secret, "", webhooks.clock.now())
        webhooks.endpoints_changed()
        return str(endpoint.id)

    def webhook_attempts(self) -> list[dict[str, Any]]:
        return [attempt.as_dict() for attempt in self.app.state.webhooks.attempts()]


@pytest.fixture(scope="session")
def spark_mock_settings() -> dict[str, str]:
    """``MOCK_*`` settings of the plugin's mocks (none: the defaults). Override it in a ``conftest.py``."""
    return {}


@pytest.fixture(scope="session")
def spark_mock_key() -> str:
    """The one API key the plugin's mocks accept: of the form MuleRouter's keys have been seen in."""
    return "sk-mr-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def _spark_mock_server(spark_mock_settings: dict[str, str], spark_mock_key: str) -> Iterator[SocketMock]:
    env = {**_DEFAULTS, **spark_mock_settings, "MOCK_API_KEYS": spark_mock_key}
    with launch(env=env) as process:
        mock = SocketMock(process, spark_mock_key)
        try:
            yield mock
        finally:
            mock.close()


@pytest.fixture
def spark_mock(_spark_mock_server: SocketMock, request: pytest.FixtureRequest) -> SocketMock:
    """The session's socket mock, reset for this test. See :mod:`mockserver.pytest_plugin`."""
    _spark_mock_server.reset()
    request.node.stash[_USED] = _spark_mock_server
    return _spark_mock_server


@pytest.fixture
def spark_mock_asgi(
    spark_mock_settings: dict[str, str], spark_mock_key: str, request: pytest.FixtureRequest
) -> AsgiMock:
    """A mock in this process, new for this test, reached through ``.transport``."""
    environment = {**_DEFAULTS, **spark_mock_settings, "MOCK_API_KEYS": spark_mock_key}
    mock = AsgiMock(Settings.from_env(environment), spark_mock_key)
    request.node.stash[_USED] = mock
    return mock


@pytest.fixture(scope="session")
def _spark_webhook_receiver(spark_mock_settings: dict[str, str]) -> Iterator[WebhookReceiver]:
    settings = Settings.from_env(spark_mock_settings)  # the readings of the signature the mock uses
    receiver = WebhookReceiver(new_secret(), encoding=settings.webhook_signature_encoding, key=settings.webhook_key)
    with receiver:
        yield receiver


@pytest.fixture
def spark_webhooks(spark_mock: SocketMock, _spark_webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    """A receiver that ``spark_mock`` sends every webhook to during this test (the mock's reset before
    the next test removes it). See :class:`~mockserver.webhook_receiver.WebhookReceiver`."""
    assert _spark_webhook_receiver.secret is not None
    _spark_webhook_receiver.clear()
    spark_mock.add_webhook(_spark_webhook_receiver.url, _spark_webhook_receiver.secret)
    return _spark_webhook_receiver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    mock = item.stash.get(_USED, None)
    if mock is not None and report.failed and call.when == "call":
        try:
            received = mock.received()
        except Exception as exc:  # the mock may be what broke; the report still goes out
            received = f"could not read the mock's journal: {exc}"
        report.sections.append(("what spark-mock received", received))
    return report


def _describe(entry: JournalEntry) -> str:
    query = f"?{entry.query}" if entry.query else ""
    line = f"{entry.method} {entry.path}{query} -> {entry.status}"
    if entry.body is not None:
        body = str(entry.body)
        line += f"  body: {body if len(body) <= 300 else body[:297] + '...'}"
    return line
