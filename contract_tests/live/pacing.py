"""Good manners towards a rate-limited, paid API: a request rate, and bounded, well-spaced retries.

A 429 is retried after its ``Retry-After`` (1 to 120 seconds, the range the official CLI honours;
exponential backoff when the header is absent). A 5xx, or no answer at all, is retried with
exponential backoff and jitter, except for a create, which may have made a task: it is never sent
twice, and its answer is judged as it came. Either way at most ``max_retries`` times. Every attempt goes
through the spend guard again, and every attempt is shown to the listeners (the recorder).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract_tests.budget import CreateGuard
from contract_tests.target import Exchange, Target, TargetUnreachable
from sparkspec.openapi import ApiSpec

RETRY_AFTER_RANGE = (1.0, 120.0)
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


@dataclass
class RetryStats:
    """What the run met: rate limits, server errors, silence, and how long it waited for them."""

    rate_limited: int = 0
    server_errors: int = 0
    unreachable: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    retry_after_values: list[str] = field(default_factory=list)


class PacedTarget(Target):
    """A :class:`Target` that keeps to a request rate and retries 429, 5xx and silence, within bounds."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        guard: CreateGuard,
        spec: ApiSpec,
        *,
        rate: float,
        max_retries: int,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, guard, spec, timeout, transport)
        self.interval = 1.0 / rate
        self.max_retries = max_retries
        self.stats = RetryStats()
        self.listeners: list[Callable[[Exchange, int], None]] = []
        self._sleep = sleep
        self._next_slot = 0.0
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> Exchange:
        # A create that got a 5xx or no answer may have made a (billed) task: sending it again could
        # make a second one. Only a 429, which made none, is retried for a create.
        create = self.is_create(method, self.url(path_or_url))
        attempt = 0
        while True:
            self._wait_for_slot()
            try:
                exchange = super().request(method, path_or_url, **kwargs)
            except TargetUnreachable as exc:
                self.stats.unreachable += 1
                self._tell(exc.exchange, attempt)
                if create or attempt >= self.max_retries:
                    raise
                self._pause(self._backoff(attempt))
                attempt += 1
                continue
            self._tell(exchange, attempt)
            if exchange.status == 429:
                self.stats.rate_limited += 1
                header = exchange.response_headers.get("retry-after")
                if header is not None:
                    self.stats.retry_after_values.append(header)
                delay = _retry_after(header) or self._backoff(attempt)
            elif exchange.status >= 500:
                self.stats.server_errors += 1
                if create:
                    return exchange
                delay = self._backoff(attempt)
            else:
                return exchange
            if attempt >= self.max_retries:
                return exchange  # the caller judges the last answer
            self._pause(delay)
            attempt += 1

    def _tell(self, exchange: Exchange, attempt: int) -> None:
        for listener in self.listeners:
            listener(exchange, attempt)

    def _wait_for_slot(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def _pause(self, seconds: float) -> None:
        self.stats.retries += 1
        self.stats.waited_seconds += seconds
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return float(min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * (0.5 + self._random.random() / 2))


def _retry_after(header: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), kept within 1 to 120."""
    if header is None or not header.strip().isdigit():
        return None
    low, high = RETRY_AFTER_RANGE
    return min(high, max(low, float(header.strip())))
