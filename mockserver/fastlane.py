"""The fast lane: the API's own operations go straight to their handlers, past Starlette's router.

Creates and polls are what CI suites and load tests send by the thousand. For a request that
small, Starlette's routing, its ``Request`` and ``Response`` objects and its two exception
middlewares cost more than the handler itself (benchmarks/results.md has the figures). So a
request whose method and path are exactly those of an API operation is answered by its handler
straight from the outermost layer (:class:`~mockserver.middleware.TraceJournalMiddleware`), and
every other request (the admin API, the video, an unknown path, a wrong method) goes through the
Starlette app, which mounts the same handlers at the same paths through :class:`Endpoint`. Either
way the answer is the same, errors included.

A handler takes the ASGI scope and ``receive`` and returns a :class:`Reply`, or raises
:class:`~mockserver.errors.ApiError`; it never sends, so an error can always still be answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import Receive, Scope, Send

from mockserver.errors import ApiError, internal_error

log = logging.getLogger("mockserver")

JSON = b"application/json"


class Reply(NamedTuple):
    """A whole answer: status, body and headers beyond ``Content-Type`` and ``Content-Length``."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


Handler = Callable[[Scope, Receive], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Lane:
    """An operation's method, its path (``/a/b``, or ``/a/b/{name}`` with one last parameter) and handler."""

    method: str
    path: str
    handler: Handler


async def answer(
    handler: Handler, scope: Scope, receive: Receive, send: Send, extra: Sequence[tuple[bytes, bytes]] = ()
) -> int:
    """Run ``handler`` and send its reply, plus the ``extra`` headers; an :class:`ApiError` or a crash
    becomes an error reply. Returns the status sent."""
    try:
        reply = await handler(scope, receive)
    except ApiError as exc:
        reply = error_reply(exc)
    except Exception:
        log.exception("unhandled error in the mock")
        reply = error_reply(internal_error())
    length = b"%d" % len(reply.body)
    headers = [(b"content-type", reply.content_type), (b"content-length", length), *reply.headers, *extra]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
    return reply.status


def error_reply(error: ApiError) -> Reply:
    headers = tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items())
    return Reply(error.status, error.body(), headers=headers)


class Endpoint:
    """A handler as an ASGI app, for Starlette's router (a class, so that Starlette does not wrap it)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await answer(self.handler, scope, receive, send)


class Lanes:
    """Finds the handler of a request for one of ``lanes``, by its exact method and path."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        self._exact: dict[tuple[str, str], Handler] = {}
        self._by_parent: dict[tuple[str, str], tuple[str, Handler]] = {}
        for lane in lanes:
            parent, _, last = lane.path.rpartition("/")
            if "{" in parent or "}" in parent:
                raise ValueError(f"the fast lane takes one path parameter, at the end: {lane.path}")
            if last.startswith("{") and last.endswith("}"):
                self._by_parent[(lane.method, parent)] = (last[1:-1], lane.handler)
            else:
                self._exact[(lane.method, lane.path)] = lane.handler

    def find(self, scope: Scope) -> Handler | None:
        """The handler for this HTTP request, with its path parameter put in the scope; or ``None``."""
        if scope.get("root_path"):  # Starlette's router knows what to strip from the path: leave it to it
            return None
        method, path = scope["method"], scope["path"]
        handler = self._exact.get((method, path))
        if handler is None:
            parent, _, last = path.rpartition("/")
            found = self._by_parent.get((method, parent)) if last else None
            if found is not None:
                name, handler = found
                scope["path_params"] = {name: last}
        return handler
