"""Delivering webhook events: signed POSTs, retried with backoff, every attempt reported.

It runs in the webhook process (:mod:`mockserver.webhook_process`), on that process's event loop. A
fixed number of workers share one ``httpx.AsyncClient`` and take deliveries from a bounded queue, so
however many events fall due at once and however slowly receivers answer, at most ``WORKERS``
deliveries are in flight and ``QUEUED_DELIVERIES`` wait; a delivery that finds the queue full is
dropped and counted. A receiver that never answers holds a worker for ``timeout`` seconds per
attempt, nothing more.

Each attempt is signed afresh (its timestamp is the moment of signing, on the real clock, which is
the receiver's: the mock's clock may have been moved) and keeps its delivery id, so that a receiver
can tell a retry from a new delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from mockserver.clock import timestamp
from mockserver.webhook_endpoints import Endpoint, shown_url
from sparkspec.webhook_signature import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Encoding, KeyReading, sign

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("mockserver")

WORKERS = 8
QUEUED_DELIVERIES = 1000
USER_AGENT = "spark-mock-webhooks/1 (a mock of MuleRouter's webhooks)"
_SHOWN_ERROR = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one endpoint: its body (the same for every endpoint) and its own delivery id."""

    id: str
    event_id: str
    type: str
    task_id: str | None
    endpoint: Endpoint
    body: bytes
    generation: int


class DeliveryRules(NamedTuple):
    """How deliveries are made.

    Attributes:
        retries: Further attempts after one that got no 2xx answer (or none in time).
        backoff: Seconds before the first retry; each further one waits twice as long.
        timeout: Seconds one attempt may take.
        encoding: The signature digest's encoding.
        key: Which part of an endpoint's secret is the HMAC key.
    """

    retries: int
    backoff: float
    timeout: float
    encoding: Encoding
    key: KeyReading


class Attempt(NamedTuple):
    """One try at a delivery, and what came of it: an HTTP status, or an error (no answer). A tuple of
    plain values, so that it crosses from the webhook process to the server as it is."""

    at: float
    delivery_id: str
    event_id: str
    type: str
    task_id: str | None
    endpoint_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """As ``GET /__mock/webhooks`` shows it (no secret is part of an attempt)."""
        return {
            "at": timestamp(self.at, "micro"),
            "delivery_id": self.delivery_id,
            "event_id": self.event_id,
            "type": self.type,
            "task_id": self.task_id,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 6),
        }


class Courier:
    """Sends deliveries; see the module.

    Args:
        rules: How often to try, how long to wait, how to sign.
        on_attempt: Called with each attempt once it has ended.
        wall: The real clock, whose Unix seconds sign each attempt.
        transport: An httpx transport to send through (tests); a real socket by default.
    """

    def __init__(
        self,
        rules: DeliveryRules,
        on_attempt: Callable[[Attempt], None],
        *,
        wall: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries, self.backoff, self.timeout = rules.retries, rules.backoff, rules.timeout
        self.encoding: Encoding = rules.encoding
        self.key: KeyReading = rules.key
        self.on_attempt = on_attempt
        self.wall = wall
        self.dropped = 0
        self.generation = 0
        self._transport = transport
        self._queue: asyncio.Queue[Delivery] | None = None

    def attach(self) -> None:
        """A fresh queue, for workers about to start on the running loop (an asyncio queue keeps to one)."""
        self._queue = asyncio.Queue(QUEUED_DELIVERIES)

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; ``False`` (and counted as dropped) when the queue is full."""
        if self._queue is None:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    @property
    def room(self) -> int:
        """How many more deliveries the queue takes now."""
        return 0 if self._queue is None else QUEUED_DELIVERIES - self._queue.qsize()

    @property
    def waiting(self) -> int:
        """Deliveries queued, not yet taken by a worker."""
        return 0 if self._queue is None else self._queue.qsize()

    async def serve(self) -> None:
        """Run the workers, until cancelled; the client's connections are closed on the way out."""
        import httpx  # here, not at the top: a mock with no endpoint never sends, and its start is timed

        queue = self._queue
        if queue is None:
            raise RuntimeError("attach() the courier to the running loop first")
        limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
        # No proxy from the environment: a receiver on 127.0.0.1 must not be sent through one.
        async with (
            httpx.AsyncClient(
                transport=self._transport, timeout=self.timeout, limits=limits, trust_env=False, follow_redirects=False
            ) as client,
            asyncio.TaskGroup() as workers,
        ):
            for _ in range(WORKERS):
                workers.create_task(self._work(client, queue))

    def forget(self, generation: int) -> None:
        """Drop every queued delivery; deliveries under way stop before their next attempt. Deliveries
        submitted from now on belong to ``generation``."""
        self.generation = generation
        queue = self._queue
        while queue is not None and not queue.empty():
            queue.get_nowait()
        self.dropped = 0

    async def _work(self, client: httpx.AsyncClient, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(client, delivery)
            except Exception:  # one bad delivery must not stop a worker
                log.exception("webhook delivery %s failed in the mock", delivery.id)

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        for attempt in range(1, self.retries + 2):
            if delivery.generation != self.generation:
                return  # a reset came in between
            status, error, seconds = await self._attempt(client, delivery)
            if delivery.generation != self.generation:
                return
            endpoint = delivery.endpoint
            self.on_attempt(
                Attempt(
                    self.wall(),
                    delivery.id,
                    delivery.event_id,
                    delivery.type,
                    delivery.task_id,
                    endpoint.id,
                    shown_url(endpoint.url),
                    attempt,
                    status,
                    error,
                    seconds,
                )
            )
            if status is not None and 200 <= status < 300:
                return
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> tuple[int | None, str | None, float]:
        import httpx  # loaded by serve() already: a lookup

        stamp = int(self.wall())
        endpoint = delivery.endpoint
        signature = sign(endpoint.secret, delivery.id, stamp, delivery.body, encoding=self.encoding, key=self.key)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ID_HEADER: delivery.id,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: signature,
        }
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(self.timeout),
                client.stream("POST", endpoint.url, content=delivery.body, headers=headers) as response,
            ):
                # Only the status counts: the body of the answer is never read, however large.
                return response.status_code, None, time.perf_counter() - started
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout:g} s", time.perf_counter() - started
        except httpx.HTTPError as exc:
            text = f"{type(exc).__name__}: {exc}".replace(endpoint.url, shown_url(endpoint.url))
            return None, text[:_SHOWN_ERROR], time.perf_counter() - started
