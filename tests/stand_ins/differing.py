"""Local stand-ins for the live API, for testing live runs and drift without the internet.

- ``docs_like()``: the mock itself, which behaves as the docs say.
- ``differing()``: a target that reads the docs the other way and misbehaves a little: the legacy
  status words, the error at the top level, microsecond timestamps, a value the docs refuse accepted
  (``seed: 2147483648``, one past the documented range), a value a disputed rule refuses accepted
  (``multi_shots: "triple"``), bad images accepted and then failed, a 429 with ``Retry-After``
  every so often, and a 503 to a poll now and then.
- ``LosesCreates``: makes each task, then answers 502: a create whose outcome the run cannot know.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import Settings, create_app
from sparkspec.openapi import ApiSpec
from tests.stand_ins.broken import FailBadImagesLater, spec_with_loose_images

KEY = "sk-mr-FAKE-live-key-do-not-print-0042"
SPEED = 1000.0
TRACEPARENT = (b"traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01")


def docs_like() -> Any:
    return create_app(Settings(speed=SPEED, api_keys=frozenset({KEY})))


class Unreliable:
    """Answers some requests itself: a 429 with Retry-After every ``every`` requests, and a 503 at random."""

    def __init__(self, app: ASGIApp, *, every: int = 40, error_rate: float = 0.04, seed: int = 7) -> None:
        self.app = app
        self.every = every
        self.error_rate = error_rate
        self.random = random.Random(seed)
        self.count = 0
        self.answered_429 = 0
        self.answered_503 = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            await self.app(scope, receive, send)
            return
        self.count += 1
        if self.count % self.every == 0:
            self.answered_429 += 1
            await _answer(
                send,
                429,
                {"detail": "Too many requests", "error_code": 429, "title": "Too Many Requests"},
                [(b"retry-after", b"1")],
            )
            return
        # A 503 to a create would leave the run not knowing whether it made a task: that case has
        # its own stand-in (LosesCreates). Here only polls get one.
        if scope["method"] == "GET" and self.random.random() < self.error_rate:
            self.answered_503 += 1
            await _answer(send, 503, {"detail": "Service Unavailable", "error_code": 503, "title": "Unavailable"}, [])
            return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), TRACEPARENT, *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class LosesCreates:
    """Makes every task it is asked for, then answers 502 instead of the 202: the answer is lost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lost = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        if messages and messages[0]["status"] == 202:
            self.lost += 1
            await _answer(send, 502, {"detail": "Bad Gateway", "error_code": 502, "title": "Bad Gateway"}, [])
            return
        for message in messages:
            await send(message)


def differing() -> tuple[Unreliable, Any]:
    """The differing stand-in, and the mock inside it (whose store tells what was really accepted)."""
    spec = spec_with_loose_images()
    document = copy.deepcopy(dict(spec.document))
    properties = document["components"]["schemas"]["GenerationRequest"]["properties"]
    words = next(branch for branch in properties["multi_shots"]["anyOf"] if branch.get("type") == "string")
    words["enum"] = [*words["enum"], "triple"]
    properties["seed"]["maximum"] = 2**31
    inner = create_app(
        Settings(
            speed=SPEED, api_keys=frozenset({KEY}), vocabulary="legacy", error_placement="top_level", timestamps="micro"
        ),
        spec=ApiSpec(document),
    )
    return Unreliable(FailBadImagesLater(inner)), inner
