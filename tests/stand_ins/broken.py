"""Deliberately broken variants of the mock, each breaking one rule of the contract.

The contract suites must fail against every one of them, for the right reason, and pass against
the real mock (tests/contract/test_contract_catches.py). Each variant is the real mock plus one change: a
spec that allows too much, a setting, or a rewrite of requests or responses.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import Settings, create_app
from sparkspec.image_rules import ImageRejected, ImageRules, check_image
from sparkspec.openapi import ApiSpec

SPEED = 1000.0
Transform = Callable[[dict[str, Any], Scope], dict[str, Any]]


class RewriteResponses:
    """Applies ``transform`` to every JSON response body (and optionally changes status or headers)."""

    def __init__(
        self,
        app: ASGIApp,
        transform: Transform | None = None,
        status: Callable[[int], int] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.app, self.transform, self.status, self.content_type = app, transform, status, content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = dict(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(raw=list(start["headers"]))
            if self.transform and headers.get("content-type", "").startswith("application/json"):
                body = json.dumps(self.transform(json.loads(body), scope)).encode()
            if self.status:
                start["status"] = self.status(start["status"])
            if self.content_type:
                headers["content-type"] = self.content_type
            headers["content-length"] = str(len(body))
            start["headers"] = headers.raw
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


class RewriteRequests:
    """Changes the request before the mock sees it: its headers, its path, or the whole answer."""

    def __init__(self, app: ASGIApp, change: Callable[[Scope], Scope]) -> None:
        self.app, self.change = app, change

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(self.change(scope) if scope["type"] == "http" else scope, receive, send)


def _spec_allowing(edit: Callable[[dict[str, Any]], None]) -> ApiSpec:
    document = copy.deepcopy(dict(ApiSpec.load().document))
    edit(document["components"]["schemas"]["GenerationRequest"]["properties"])
    return ApiSpec(document)


def spec_with_loose_images() -> ApiSpec:
    document = copy.deepcopy(dict(ApiSpec.load().document))
    rules = document["components"]["schemas"]["ImageInput"]["x-image-rules"]
    rules.update(
        {
            "formats": ["JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF"],
            "min-side": 1,
            "max-side": 100_000,
            "max-bytes": 10**9,
            "png-transparency": True,
        }
    )
    return ApiSpec(document)


class FailBadImagesLater:
    """Accepts images that break the documented rules, but asks the mock to fail those tasks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        rules = ApiSpec.load().schemas_with_extension("x-image-rules")["ImageInput"]["x-image-rules"]
        self.rules = ImageRules.from_spec(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw, replay = await _buffered(receive)
        try:
            body = json.loads(raw)
            for field in ("image", "last_frame"):
                if isinstance(body, dict) and isinstance(body.get(field), str):
                    check_image(body[field], self.rules)
        except ImageRejected:
            scope = {**scope, "headers": [*scope["headers"], (b"x-mock-scenario", b"fail=3001")]}
        except ValueError:
            pass

        await self.app(scope, replay, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands the same messages on to the app."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if not message.get("more_body"):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return b"".join(m.get("body", b"") for m in messages), replay


def _plain_mock(spec: ApiSpec | None = None, **settings: Any) -> ASGIApp:
    return create_app(Settings(speed=SPEED, **settings), spec=spec)


def _info(transform: Callable[[dict[str, Any]], None]) -> Transform:
    def apply(body: dict[str, Any], scope: Scope) -> dict[str, Any]:
        if isinstance(body.get("task_info"), dict):
            transform(body["task_info"])
        return body

    return apply


def _drop_videos(body: dict[str, Any], scope: Scope) -> dict[str, Any]:
    body.pop("videos", None)
    return body


class _NonUuidIds:
    """Ids become ``task_<hex>`` on the way out and are turned back on the way in."""

    def outgoing(self, body: dict[str, Any], scope: Scope) -> dict[str, Any]:
        info = body.get("task_info")
        if isinstance(info, dict) and isinstance(info.get("id"), str):
            info["id"] = "task_" + uuid.UUID(info["id"]).hex
        return body

    def incoming(self, scope: Scope) -> Scope:
        head, _, last = scope["path"].rpartition("/")
        if last.startswith("task_"):
            scope = {**scope, "path": f"{head}/{uuid.UUID(last[5:])}"}
        return scope


class _GoesBack:
    """After a task has been shown finished once, its next polls say it is running again."""

    def __init__(self) -> None:
        self.finished: set[str] = set()

    def __call__(self, body: dict[str, Any], scope: Scope) -> dict[str, Any]:
        info = body.get("task_info")
        if scope["method"] == "GET" and isinstance(info, dict) and info.get("status") in ("succeeded", "failed"):
            if info["id"] in self.finished:
                info["status"] = "running"
                body.pop("videos", None)
                info.pop("error", None)
            self.finished.add(info["id"])
        return body


class _FinishesLateThenReverts:
    """Tasks read ``running`` until ``finish_after`` seconds after their create; then every other poll of a
    finished task reads ``running`` again (a terminal status that is not final, seen only near the deadline)."""

    def __init__(self, finish_after: float) -> None:
        self.finish_after = finish_after
        self.created: dict[str, float] = {}
        self.terminal_polls: dict[str, int] = {}

    def __call__(self, body: dict[str, Any], scope: Scope) -> dict[str, Any]:
        info = body.get("task_info")
        if not isinstance(info, dict) or not isinstance(info.get("id"), str):
            return body
        if scope["method"] == "POST":
            self.created[info["id"]] = time.monotonic()
            return body
        if info.get("status") not in ("succeeded", "failed"):
            return body
        elapsed = time.monotonic() - self.created.get(info["id"], 0.0)
        polls = self.terminal_polls[info["id"]] = self.terminal_polls.get(info["id"], 0) + (
            elapsed >= self.finish_after
        )
        if elapsed < self.finish_after or polls % 2 == 0:
            info["status"] = "running"
            body.pop("videos", None)
            info.pop("error", None)
        return body


class _AcceptsEverything:
    """Every create, whatever its body or credentials, makes a task: the mock behind it sees a valid one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.body = json.dumps({"prompt": "anything", "image": "https://example.com/a.jpg"}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await _buffered(receive)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"content-type")]
        headers += [(b"authorization", b"Bearer sk-mr-granted-anyway"), (b"content-type", b"application/json")]
        body = self.body

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def _grant_missing_auth(scope: Scope) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
    return {**scope, "headers": [*headers, (b"authorization", b"Bearer sk-mr-granted-anyway")]}


class _FailsOnNonAscii:
    """A server bug: a prompt with non-ASCII text crashes it (500 before the mock sees the request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw, replay = await _buffered(receive)
        try:
            prompt = json.loads(raw).get("prompt", "")
        except (ValueError, AttributeError):
            prompt = ""
        if isinstance(prompt, str) and not prompt.isascii():
            payload = b'{"detail": "Internal Server Error"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return

        await self.app(scope, replay, send)


class _RateLimitsCreates:
    """Answers every create 429, before the mock sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error_code": 429, "title": "Too Many Requests", "detail": "Slow down"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def build(name: str, **settings: Any) -> ASGIApp:
    """The named variant (see VARIANTS); ``settings`` go to the mock inside (``api_keys=...``, say)."""

    def _mock(spec: ApiSpec | None = None, **more: Any) -> ASGIApp:
        return _plain_mock(spec, **settings, **more)

    if name == "prompt-2001":
        return _mock(_spec_allowing(lambda p: p["prompt"].update(maxLength=2001)))
    if name == "seed-out-of-range":
        return _mock(_spec_allowing(lambda p: p["seed"].update(minimum=-(2**40), maximum=2**40)))
    if name == "duration-7":
        return _mock(_spec_allowing(lambda p: p["duration"].update(enum=[5, 7, 10, 15])))
    if name == "answers-200":
        return RewriteResponses(_mock(), status=lambda s: 200 if s == 202 else s)
    if name == "drops-task-id":
        return RewriteResponses(_mock(), _info(lambda info: info.pop("id", None)))
    if name == "non-uuid-id":
        ids = _NonUuidIds()
        return RewriteRequests(RewriteResponses(_mock(), ids.outgoing), ids.incoming)
    if name == "unknown-status-word":
        return RewriteResponses(
            _mock(), _info(lambda info: info.update(status="generating") if info.get("status") == "running" else None)
        )
    if name == "leaves-terminal-state":
        return RewriteResponses(_mock(), _GoesBack())
    if name == "never-finishes":
        return _mock(scenario="stall")
    if name == "drops-videos":
        return RewriteResponses(_mock(), _drop_videos)
    if name == "no-auth":
        return RewriteRequests(_mock(), _grant_missing_auth)
    if name == "500-on-non-ascii":
        return _FailsOnNonAscii(_mock())
    if name == "wrong-content-type":
        return RewriteResponses(_mock(), content_type="text/plain; charset=utf-8")
    if name == "bad-images-succeed":
        return _mock(spec_with_loose_images())
    if name == "reverts-near-the-deadline":
        return RewriteResponses(_mock(), _FinishesLateThenReverts(finish_after=9.5))
    if name == "accepts-everything":
        return _AcceptsEverything(_mock())
    # Says nothing about any create: each is rate-limited. No check may pass or fail on that.
    if name == "rate-limits-every-create":
        return _RateLimitsCreates(_mock())
    # Not broken: the docs leave open whether a bad image is refused at create or fails as a task.
    if name == "bad-images-fail-later":
        return FailBadImagesLater(_mock(spec_with_loose_images()))
    # Not broken either: the other documented readings, and every task failing.
    if name == "other-readings-and-failures":
        return _mock(vocabulary="legacy", error_placement="top_level", timestamps="micro", scenario="fail=3005")
    raise KeyError(name)


VARIANTS = [
    "prompt-2001",
    "seed-out-of-range",
    "duration-7",
    "answers-200",
    "drops-task-id",
    "non-uuid-id",
    "unknown-status-word",
    "leaves-terminal-state",
    "never-finishes",
    "drops-videos",
    "no-auth",
    "500-on-non-ascii",
    "wrong-content-type",
    "bad-images-succeed",
]
