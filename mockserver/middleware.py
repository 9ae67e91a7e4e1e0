"""The outermost layer: a ``Traceparent`` on every response, and a journal entry for every API request.

It wraps even Starlette's error middleware, so a crash's 500 carries a ``Traceparent`` too.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.clock import Clock
from mockserver.fastlane import Lanes, answer
from mockserver.journal import Journal, Visit, pack_headers

ADMIN_PREFIX = "/__mock"
_ZERO_TRACE, _ONE_TRACE = "0" * 32, "0" * 31 + "1"
_ZERO_SPAN, _ONE_SPAN = "0" * 16, "0" * 15 + "1"
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def traceparent(incoming: str | None) -> str:
    """A W3C ``traceparent`` for this response: the caller's trace continued, or a new trace."""
    # Trace ids need to be unique, not secret: the fast generator will do (a zero id is one in 2**64).
    if incoming is None:
        ids = random.getrandbits(192).to_bytes(24, "big").hex()  # the cheapest way to 48 hex digits
        trace, span = ids[:32], ids[32:]
        if trace == _ZERO_TRACE or span == _ZERO_SPAN:
            trace, span = trace.replace(_ZERO_TRACE, _ONE_TRACE), span.replace(_ZERO_SPAN, _ONE_SPAN)
        return "00-" + trace + "-" + span + "-01"
    match = _TRACEPARENT.match(incoming.strip().lower())
    span = f"{random.getrandbits(64) or 1:016x}"
    if match and match.group(1) != "ff" and set(match.group(2)) != {"0"} and set(match.group(3)) != {"0"}:
        return f"00-{match.group(2)}-{span}-{match.group(4)}"
    return f"00-{random.getrandbits(128) or 1:032x}-{span}-01"


class TraceJournalMiddleware:
    """Adds ``Traceparent`` to every HTTP response and records API requests in the journal.

    Requests for the API's operations (``lanes``) it hands straight to their handlers (see
    :mod:`mockserver.fastlane`); the others go to ``app``.

    Routes add to the entry through ``request.state.journal`` (a dict): the body summary, the
    task id, anything worth keeping. Admin requests (under ``/__mock``) are not recorded, so that
    a test's own inspection does not show up in what it inspects.
    """

    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock, lanes: Lanes | None = None) -> None:
        self.app = app
        self.journal = journal
        self.clock = clock
        self.lanes = lanes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                incoming = value.decode("latin-1")
        trace = traceparent(incoming)
        state: dict[str, Any] = scope.setdefault("state", {})
        notes: dict[str, Any] = {}
        state["traceparent"] = trace
        state["journal"] = notes
        status = 500
        started = time.perf_counter()

        trace_header = (b"traceparent", trace.encode())
        handler = self.lanes.find(scope) if self.lanes is not None else None
        if handler is not None:  # an API operation, in the fast lane: no Starlette in the way
            try:
                status = await answer(handler, scope, receive, send, (trace_header,))
            finally:
                self._record(scope, status, trace, notes, started)
            return

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), trace_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            if not scope["path"].startswith(ADMIN_PREFIX):
                self._record(scope, status, trace, notes, started)

    def _record(self, scope: Scope, status: int, trace: str, notes: dict[str, Any], started: float) -> None:
        seconds = time.perf_counter() - started
        path, query = scope["path"][:500], scope.get("query_string", b"")[:500]
        # Positional, in Visit's field order: one is made per request.
        self.journal.record(
            Visit(
                self.clock.now(),
                scope["method"],
                path,
                query,
                status,
                seconds,
                trace,
                pack_headers(scope["headers"]),
                notes,
            )
        )
