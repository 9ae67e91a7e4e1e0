"""A webhook receiver on a real socket, for tests: it keeps what it is sent and checks each signature.

It runs in a thread of its own (the standard library's HTTP server), so that a test, synchronous or
not, can wait for a delivery while the mock, or any target, sends it. What it answers can be
scripted (:meth:`WebhookReceiver.answer_with`), to show that a sender retries.

>>> with WebhookReceiver("whsec_abc") as receiver:  # doctest: +SKIP
...     ...  # point the sender at receiver.url
...     delivery = receiver.wait_for("task.succeeded", task_id)
...     assert delivery.verified
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sparkspec.webhook_signature import (
    SPEC_TOLERANCE,
    Encoding,
    InvalidSignature,
    KeyReading,
    Tolerance,
    verify_signature,
)

MAX_BODY = 1024 * 1024
KEPT = 10_000


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got: its headers (by lower-case name), raw body, and the verdict on its
    signature (``problem`` says why it did not verify)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int
    problem: str | None = None
    _parsed: Any = field(default=None, repr=False, compare=False)

    @property
    def verified(self) -> bool:
        return self.problem is None

    def json(self) -> Any:
        """The body as JSON (``None`` when it is not)."""
        return self._parsed

    @property
    def type(self) -> str | None:
        event = self._parsed
        return event.get("type") if isinstance(event, dict) else None

    @property
    def task_id(self) -> str | None:
        """The id of the task the event is about, from its payload's ``task_info``."""
        try:
            return str(self._parsed["data"]["payload"]["task_info"]["id"])
        except (KeyError, TypeError):
            return None


class WebhookReceiver:
    """Receives webhooks on ``host:port`` (a free port by default) until :meth:`stop`.

    Args:
        secret: The ``whsec_...`` secret deliveries should be signed with; ``None`` checks no signature.
        host: Where to listen.
        port: The port; 0 takes a free one.
        encoding: The signature digest's encoding, ``hex`` or ``base64``; ``None``: the spec's reading.
        key: Which part of the secret is the key: ``whole``, ``after-prefix`` or ``after-prefix-base64``;
            ``None``: the spec's reading.
        tolerance: Seconds a signature's timestamp may be from the receiver's time; by default the spec's.
    """

    def __init__(
        self,
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        encoding: Encoding | None = None,
        key: KeyReading | None = None,
        tolerance: Tolerance = SPEC_TOLERANCE,
    ) -> None:
        self.secret = secret
        # None and SPEC_TOLERANCE are handed to verify_signature, which reads them in the spec.
        self.encoding: Encoding | None = encoding
        self.key: KeyReading | None = key
        self.tolerance = tolerance
        self._kept: deque[Delivery] = deque(maxlen=KEPT)
        self._answers: deque[int] = deque()
        self._changed = threading.Condition()
        self._server = (_Server6 if ":" in host else _Server)((host, port), _handler(self))
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._server.server_address[:2]
        self.port = int(bound_port)
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, str(bound_host))
        shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
        self.url = f"http://{shown}:{self.port}/"

    def __repr__(self) -> str:  # never the secret
        return f"WebhookReceiver(url={self.url!r}, received={len(self._kept)})"

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer_with(self, *statuses: int) -> None:
        """The next requests get these statuses, one each, in order; then 200 again."""
        with self._changed:
            self._answers.extend(statuses)

    def clear(self) -> None:
        """Forget what was received, and any scripted answers."""
        with self._changed:
            self._kept.clear()
            self._answers.clear()

    def deliveries(self, event_type: str | tuple[str, ...] | None = None, task_id: str | None = None) -> list[Delivery]:
        """What was received, oldest first; only of ``event_type`` (or one of several) and about ``task_id``,
        when given."""
        with self._changed:
            kept = list(self._kept)
        return [d for d in kept if _matches(d, event_type, task_id)]

    def wait_for(
        self, event_type: str | tuple[str, ...], task_id: str | None = None, timeout: float = 10.0
    ) -> Delivery:
        """The first delivery of ``event_type`` (or of one of several), about ``task_id`` when given, waiting
        up to ``timeout`` seconds.

        Raises:
            AssertionError: none came in time; the message lists what did.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((d for d in self._kept if _matches(d, event_type, task_id)), None)
                left = deadline - time.monotonic()
                if found is not None:
                    return found
                if left <= 0:
                    seen = [f"{d.type} {d.task_id} -> {d.status}" for d in self._kept] or ["nothing"]
                    about = f" about task {task_id}" if task_id else ""
                    wanted = event_type if isinstance(event_type, str) else " or ".join(event_type)
                    raise AssertionError(
                        f"no {wanted} webhook{about} within {timeout:g} s; received: {'; '.join(seen[-20:])}"
                    )
                self._changed.wait(left)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries())

    def _take(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        """Record one request; the status to answer it with."""
        problem = None
        if self.secret is not None:
            try:
                verify_signature(
                    self.secret, headers, body, tolerance=self.tolerance, encoding=self.encoding, key=self.key
                )
            except InvalidSignature as exc:
                problem = str(exc)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with self._changed:
            status = self._answers.popleft() if self._answers else 200
            self._kept.append(Delivery(method, path, headers, body, time.time(), status, problem, parsed))
            self._changed.notify_all()
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a sender that holds its connection open must not hold up stop()


class _Server6(_Server):
    address_family = socket.AF_INET6


def _matches(delivery: Delivery, event_type: str | tuple[str, ...] | None, task_id: str | None) -> bool:
    wanted = (event_type,) if isinstance(event_type, str) else event_type
    return (wanted is None or delivery.type in wanted) and (task_id is None or delivery.task_id == task_id)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            declared = self.headers.get("Content-Length", "")
            if not declared.isdigit() or int(declared) > MAX_BODY:
                self.send_error(411 if not declared.isdigit() else 413)
                return
            body = self.rfile.read(int(declared))
            if len(body) < int(declared):  # the sender went mid-body (a mock stopped while sending, say)
                self.close_connection = True
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver._take("POST", self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a test's output is no place for an access log

    return Handler
