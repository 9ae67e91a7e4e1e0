"""A client that behaves as the official Python skill does (openmule/mulerouter-skills@7dbf2dd,
``core/client.py`` and ``core/task.py``), restated from the rules its code follows
(../shared/reference/fidelity-audit.md, rows 96-103), not copied from it:

- every request, POSTs included, is retried on 429, 500, 502, 503 and 504, on a timeout and on a
  dropped connection: three times, after 1, 2 and 4 seconds; ``Retry-After`` is ignored;
- a create succeeds on any 2xx that carries ``task_info.id``;
- the task is polled until its status is ``succeeded``/``completed`` or ``failed``; a poll that still
  fails after its retries ends the task as failed.

``backoff`` may be scaled down where a test only needs the order of events, not the client's waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF = (1.0, 2.0, 4.0)
SUCCESS = frozenset({"succeeded", "completed"})


@dataclass
class Outcome:
    """What the client reports."""

    status: str
    task_id: str | None = None
    results: list[str] = field(default_factory=list)
    error: str | None = None


class SkillClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        backoff: tuple[float, ...] = BACKOFF,
        poll_interval: float = 0.05,
        max_wait: float = 30.0,
        timeout: float = 120.0,
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"})
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.max_wait = max_wait

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """The answer, after up to three retries; the last error if every try failed to get one."""
        for attempt in range(len(self.backoff) + 1):
            try:
                response = self.http.request(method, path, json=body)
            except (httpx.TimeoutException, httpx.TransportError):
                if attempt == len(self.backoff):
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or attempt == len(self.backoff):
                    return response
            time.sleep(self.backoff[attempt])
        raise AssertionError("unreachable")

    def create_and_poll(self, path: str, body: dict[str, Any], result_key: str = "videos") -> Outcome:
        try:
            created = self.request("POST", path, body)
        except httpx.HTTPError as exc:
            return Outcome("failed", error=f"create: {type(exc).__name__}")
        if not created.is_success:
            return Outcome("failed", error=f"create: HTTP {created.status_code}")
        task_id = created.json()["task_info"]["id"]
        deadline = time.monotonic() + self.max_wait
        while time.monotonic() < deadline:
            try:
                polled = self.request("GET", f"{path}/{task_id}")
            except httpx.HTTPError as exc:
                return Outcome("failed", task_id, error=f"poll: {type(exc).__name__}")
            if not polled.is_success:
                return Outcome("failed", task_id, error=f"poll: HTTP {polled.status_code}")
            answer = polled.json()
            status = answer["task_info"]["status"]
            if status in SUCCESS:
                return Outcome("succeeded", task_id, answer.get(result_key) or [])
            if status == "failed":
                return Outcome("failed", task_id, error=str(answer["task_info"].get("error")))
            time.sleep(self.poll_interval)
        return Outcome("timeout", task_id)

    def __enter__(self) -> SkillClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
