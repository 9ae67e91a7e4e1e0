"""The target under test, reached only through its public API, with every exchange kept for the report.

All traffic of a run, the Hypothesis suites' and Schemathesis' alike, goes through one
:class:`Target`, so that one task budget guards every create and one redaction rule covers every
request shown in a report.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract_tests.budget import CreateGuard
from sparkspec.openapi import ApiSpec
from sparkspec.redaction import MASK, mask, summarize

CREATE_OPERATION = "createGeneration"
POLL_OPERATION = "getGeneration"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
SHOWN_BODY = 600
_QUIET_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back, with secrets already masked."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    elapsed: float = 0.0
    secret: str = field(default="", repr=False, compare=False)

    def json(self) -> Any:
        """The response body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return self.response_headers.get("content-type", "")

    def curl(self) -> str:
        """The request as a curl command; long strings in a JSON body are shortened, the key masked."""
        parts = ["curl", "-X", self.method, self.url]
        for name, value in self.request_headers.items():
            if name.lower() not in _QUIET_HEADERS:
                parts += ["-H", f"{name}: {value}"]
        if self.request_body is not None:
            parts += ["--data-raw", _shown_body(self.request_body)]
        return mask(" ".join(shlex.quote(p) for p in parts), self.secret)

    def describe(self) -> str:
        """What came back, in one readable block."""
        reason = httpx.codes.get_reason_phrase(self.status) if self.status else "no response"
        lines = [f"{self.status} {reason}".strip()]
        if self.content_type:
            lines.append(f"Content-Type: {self.content_type}")
        if self.response_body:
            lines.append(_shown_body(self.response_body))
        return mask("\n".join(lines), self.secret)


class Target:
    """The API under test: create, poll, or any request, over one HTTP client.

    Args:
        base_url: Where the API is (the create path is appended to it).
        api_key: The bearer token. It is sent, and masked everywhere it could be shown.
        budget: Guards every create (a task count for the suites, money for live runs).
        spec: The contract, for the operations' paths.
        timeout: Seconds one request may take.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        budget: CreateGuard,
        spec: ApiSpec,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.budget = budget
        self.create_path = spec.operation(CREATE_OPERATION).path
        self.poll_template = spec.operation(POLL_OPERATION).path
        self.sent = 0
        self.creates = 0
        self.history: list[Exchange] = []
        self._client = httpx.Client(
            timeout=timeout, headers={"User-Agent": "wan-spark-contract/0.1"}, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def poll_path(self, task_id: str) -> str:
        return self.poll_template.replace("{task_id}", task_id)

    def create(
        self,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        meant_to_be_rejected: bool = False,
    ) -> Exchange:
        """POST a create. JSON ``body``, or ``raw`` bytes sent as they are."""
        all_headers = {"Content-Type": "application/json", **(self.auth_header if auth else {}), **(headers or {})}
        content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return self.request(
            "POST", self.create_path, headers=all_headers, content=content, meant_to_be_rejected=meant_to_be_rejected
        )

    def poll(self, task_id: str, *, auth: bool = True, headers: dict[str, str] | None = None) -> Exchange:
        return self.request(
            "GET", self.poll_path(task_id), headers={**(self.auth_header if auth else {}), **(headers or {})}
        )

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith(("http://", "https://")) else self.base_url + path_or_url

    def is_create(self, method: str, url: str) -> bool:
        """Whether a request to ``url`` is a create: the guarded, possibly billed, operation."""
        return method.upper() == "POST" and httpx.URL(url).path.rstrip("/") == (
            httpx.URL(self.base_url).path.rstrip("/") + self.create_path
        )

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        meant_to_be_rejected: bool = False,
    ) -> Exchange:
        """Send one request; a create is refused by the budget before it leaves."""
        url = self.url(path_or_url)
        is_create = self.is_create(method, url)
        if is_create:
            self.budget.before_create(content, meant_to_be_rejected=meant_to_be_rejected)
            self.creates += 1
        self.sent += 1
        started = time.monotonic()
        request = self._client.build_request(method, url, headers=headers, content=content, params=params)
        try:
            response = self._client.send(request, stream=True)
            try:
                body = _read_capped(response)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            exchange = self._exchange(request, content, 0, {}, f"{type(exc).__name__}: {exc}".encode(), started)
            self.history.append(exchange)
            if is_create:  # the request may have arrived: the guard must count what it might cost
                self.budget.after_create(0, content, b"", meant_to_be_rejected=meant_to_be_rejected)
            raise TargetUnreachable(exchange) from None
        if is_create:
            self.budget.after_create(response.status_code, content, body, meant_to_be_rejected=meant_to_be_rejected)
        exchange = self._exchange(request, content, response.status_code, dict(response.headers), body, started)
        self.history.append(exchange)
        del self.history[:-50]  # the last few exchanges are enough to explain a failure
        return exchange

    def _exchange(
        self,
        request: httpx.Request,
        content: bytes | None,
        status: int,
        headers: dict[str, str],
        body: bytes,
        started: float,
    ) -> Exchange:
        return Exchange(
            method=request.method,
            url=str(request.url),
            request_headers={
                k.decode("latin-1"): self._mask_header(v.decode("latin-1")) for k, v in request.headers.raw
            },
            request_body=content,
            status=status,
            # The answer is kept as it came, to be judged; it is masked wherever it is shown.
            response_headers={k.lower(): v for k, v in headers.items()},
            response_body=body,
            elapsed=time.monotonic() - started,
            secret=self.api_key,
        )

    def _mask_header(self, value: str) -> str:
        if value.lower().startswith("bearer "):
            return f"{value.split(' ', 1)[0]} {MASK}"
        return mask(value, self.api_key)


def usable_key(key: str) -> bool:
    """Whether ``key`` can be sent as a bearer token: printable ASCII without spaces."""
    return bool(key) and key.isascii() and key.isprintable() and " " not in key


class TargetUnreachable(Exception):
    """The request got no HTTP answer (refused, timed out, reset)."""

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(mask(exchange.response_body.decode(errors="replace"), exchange.secret))
        self.exchange = exchange


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            chunks.append(b"... (cut: the response is longer than 16 MB)")
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _shown_body(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        return text if len(text) <= SHOWN_BODY else text[:SHOWN_BODY] + f"… ({len(body)} bytes)"
    text = json.dumps(summarize(value), ensure_ascii=False)
    return text if len(text) <= SHOWN_BODY * 4 else text[: SHOWN_BODY * 4] + "…"
