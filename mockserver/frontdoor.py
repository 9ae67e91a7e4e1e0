"""The front door: every HTTP request comes in here, and only here.

It finds the handler of a request by its method and path (the API's operations, the admin API and
the video alike), answers ``404`` and ``405`` itself, turns an :class:`~mockserver.errors.ApiError`
or a crash into an error answer (the one place that does), puts a ``Traceparent`` on every answer
and records each request in the journal (but those under the admin prefix, so that a test's own
inspection does not show up in what it inspects).

Every handler has one form: it takes a :class:`Call` and returns a :class:`Reply`, or raises
:class:`~mockserver.errors.ApiError`. It never sends, so an error can always still be answered.
No Starlette router, ``Request`` or exception middleware stands in the way: for requests as small
as a create or a poll, those cost more than the handler itself.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.clock import Clock
from mockserver.errors import ApiError, DropConnection, internal_error
from mockserver.journal import Journal, Notes, Visit, pack_headers

log = logging.getLogger("mockserver")

JSON = b"application/json"
_LOW_BITS = 1 << 64 | 1  # of the trace id (the high 128 bits of 192) and of the span id (the low 64)
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(slots=True)  # not frozen, nor a named tuple: either costs twice as much to make, once per request
class Reply:
    """A whole answer: status, body and headers beyond ``Content-Type`` and ``Content-Length``; or,
    with ``stream``, an ASGI app that sends the answer itself (a file, with its ranges)."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()
    stream: ASGIApp | None = None


class Call:
    """What a handler gets: the ASGI scope and ``receive``, the request's headers (by their lower-case
    names; the first of a repeated one), the path's parameters, and the notes it may add to the
    request's journal entry."""

    __slots__ = ("headers", "notes", "params", "receive", "scope")

    def __init__(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], params: dict[str, str], notes: Notes
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.headers = headers
        self.params = params
        self.notes = notes


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    """A method, a path (``/a/{name}/b``: a parameter is one segment) and its handler.

    ``head``: a ``HEAD`` is answered as the ``GET`` is (the admin API and the video); the API's own
    operations answer only the methods the spec documents.
    """

    method: str
    path: str
    handler: Handler
    head: bool = False


class Redirect(Exception):
    """The path is known with (or without) a trailing slash: ``307`` to that spelling of it."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Routes:
    """Finds the route of a method and a path: exact paths and paths whose one parameter comes last
    by a dictionary lookup (every create and poll), the rest by their patterns.

    Under ``redirect_prefix`` (the admin API), a path known only with the other trailing slash is
    redirected there, as Starlette's router does; the API's own paths are answered only as the spec
    writes them.
    """

    def __init__(self, routes: Sequence[Route], *, redirect_prefix: str | None = None) -> None:
        self.redirect_prefix = redirect_prefix
        self._exact: dict[tuple[str, str], Route] = {}
        self._by_parent: dict[tuple[str, str], tuple[str, Route]] = {}
        self._patterns: list[tuple[re.Pattern[str], Route]] = []
        self._methods: list[tuple[re.Pattern[str], frozenset[str]]] = []
        for route in routes:
            pattern, _, converters = compile_path(route.path)
            methods = frozenset({route.method, "HEAD"} if route.head else {route.method})
            self._methods.append((pattern, methods))
            for method in methods:
                parent, _, last = route.path.rpartition("/")
                if not converters:
                    self._exact[(method, route.path)] = route
                elif len(converters) == 1 and "{" not in parent and last.startswith("{") and last.endswith("}"):
                    self._by_parent[(method, parent)] = (last[1:-1], route)
                else:
                    self._patterns.append((pattern, route if method == route.method else _as_head(route)))

    def find(self, method: str, path: str, shown: str | None = None) -> tuple[Route, dict[str, str]]:
        """The route and the path's parameters; :class:`ApiError` ``404`` or ``405`` when there is none
        (its detail shows ``shown``, the path as requested, or else ``path``), or :class:`Redirect`."""
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        parent, _, last = path.rpartition("/")
        found = self._by_parent.get((method, parent)) if last else None
        if found is not None:
            return found[1], {found[0]: last}
        for pattern, route in self._patterns:
            if route.method == method and (match := pattern.match(path)) is not None:
                return route, match.groupdict()
        # As Starlette's router: the methods of the first route whose path matches.
        allowed = next((sorted(methods) for pattern, methods in self._methods if pattern.match(path)), None)
        if allowed:
            listed = ", ".join(allowed)
            raise ApiError(
                405, f"Method {method} is not allowed here; allowed methods are {listed}", headers={"Allow": listed}
            )
        prefix = self.redirect_prefix
        if prefix is not None and path.startswith(prefix + "/") and path != prefix + "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if any(pattern.match(other) for pattern, _ in self._methods):
                raise Redirect(other)
        raise ApiError(404, f"No route for {method} {(shown or path)[:200]}")


def _as_head(route: Route) -> Route:
    return Route("HEAD", route.path, route.handler)


class FrontDoor:
    """The ASGI app of the mock's HTTP requests; any other kind of scope (the lifespan) goes to ``other``."""

    def __init__(
        self, routes: Routes, journal: Journal, clock: Clock, *, unjournaled_prefix: str, other: ASGIApp
    ) -> None:
        self.routes = routes
        self.journal = journal
        self.clock = clock
        self.unjournaled_prefix = unjournaled_prefix
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.other(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(reversed(scope["headers"]))  # in C; reversed, so that the first of a name wins
        incoming = headers.get(b"traceparent")
        trace = traceparent(None if incoming is None else incoming.decode("latin-1"))
        trace_header = (b"traceparent", trace.encode())
        notes = Notes()
        path: str = scope["path"]
        if scope.get("root_path"):
            path = _route_path(scope)
        status = 500
        try:
            try:
                if b"host" not in headers and scope.get("http_version") == "1.1":
                    raise ApiError(400, "An HTTP/1.1 request must carry a Host header (RFC 9112)")
                route, params = self.routes.find(scope["method"], path, scope["path"])
                reply = await route.handler(Call(scope, receive, headers, params, notes))
            except ApiError as exc:
                reply = error_reply(exc)
            except DropConnection:
                status = 0  # in the journal: no answer
                if not _drop(send):
                    raise
                return
            except Redirect as moved:
                reply = Reply(
                    307, b"", stream=RedirectResponse(str(URL(scope={**scope, "path": _spelled(scope, moved)})))
                )
            except Exception:
                log.exception("unhandled error in the mock")
                reply = error_reply(internal_error())
            if reply.stream is None:
                status = reply.status
                start, body = _messages(reply, trace_header)  # not a coroutine: one fewer per request
                await send(start)
                await send(body)
            else:
                status = await _stream(reply.stream, scope, receive, send, trace_header)
        finally:
            if not path.startswith(self.unjournaled_prefix):
                self._record(scope, status, trace, notes, started)

    def _record(self, scope: Scope, status: int, trace: str, notes: Notes, started: float) -> None:
        seconds = time.perf_counter() - started
        path, query = scope["path"][:500], scope.get("query_string", b"")[:500]
        # Positional, in Visit's field order: one is made per request.
        visit = Visit(
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
        self.journal.record(visit)


def base_url(call: Call, public_url: str | None) -> str:
    """Where the client reached the mock: ``public_url`` when it is set, else the request's scheme and Host."""
    if public_url:
        return public_url
    raw_host = call.headers.get(b"host")
    if raw_host is None:
        server = call.scope.get("server") or ("localhost", 80)
        return f"{call.scope['scheme']}://{server[0]}:{server[1]}"
    return _origin(call.scope["scheme"], raw_host)


@functools.lru_cache(maxsize=64)
def _origin(scheme: str, raw_host: bytes) -> str:
    # Every create with webhooks on asks, nearly always with the same Host: one string, made once (bounded,
    # since the Host is the client's to choose).
    return f"{scheme}://{raw_host.decode('latin-1')}"


def error_reply(error: ApiError) -> Reply:
    """The answer to an error, in the API's own shape."""
    headers = tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items())
    return Reply(error.status, error.body(), headers=headers)


def traceparent(incoming: str | None) -> str:
    """A W3C ``traceparent`` for this response: the caller's trace continued, or a new trace."""
    # Trace ids need to be unique, not secret: the fast generator will do.
    if incoming is None:
        # The lowest bit of each id set: never all zeros (which W3C forbids), and no check for it.
        ids = (random.getrandbits(192) | _LOW_BITS).to_bytes(24, "big").hex()  # the cheapest way to 48 hex digits
        return "00-" + ids[:32] + "-" + ids[32:] + "-01"
    match = _TRACEPARENT.match(incoming.strip().lower())
    span = f"{random.getrandbits(64) or 1:016x}"
    if match and match.group(1) != "ff" and set(match.group(2)) != {"0"} and set(match.group(3)) != {"0"}:
        return f"00-{match.group(2)}-{span}-{match.group(4)}"
    return f"00-{random.getrandbits(128) or 1:032x}-{span}-01"


def _messages(reply: Reply, trace_header: tuple[bytes, bytes]) -> tuple[Message, Message]:
    """The two ASGI messages that send a whole answer."""
    headers = [(b"content-type", reply.content_type), (b"content-length", b"%d" % len(reply.body)), *reply.headers]
    headers.append(trace_header)
    return (
        {"type": "http.response.start", "status": reply.status, "headers": headers},
        {"type": "http.response.body", "body": reply.body},
    )


async def _stream(app: ASGIApp, scope: Scope, receive: Receive, send: Send, trace_header: tuple[bytes, bytes]) -> int:
    """Let ``app`` send its answer, with the trace header added; the status it sent. A crash before it
    started is answered as any crash is; one after can only end the connection."""
    status = 0

    async def send_with_trace(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            message["headers"] = [*message.get("headers", ()), trace_header]
        await send(message)

    try:
        await app(scope, receive, send_with_trace)
    except Exception:
        log.exception("unhandled error in the mock")
        if status:
            raise
        start, body = _messages(error_reply(internal_error()), trace_header)
        await send(start)
        await send(body)
        return 500
    return status


def _drop(send: Send) -> bool:
    """Close the connection of ``send`` with no answer; ``False`` where there is no connection to close.

    ASGI has no message for it, so it is done to the server's objects: uvicorn's ``send`` belongs to
    the request's cycle, which holds the connection's transport. The cycle is marked disconnected
    first, so that uvicorn neither answers 500 for the app nor logs an error.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected") or not callable(getattr(transport, "abort", None)):
        return False
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()
    return True


def _spelled(scope: Scope, moved: Redirect) -> str:
    """The requested path (``root_path`` and all) with the trailing slash of the route path it redirects to."""
    path: str = scope["path"]
    return path.rstrip("/") if not moved.path.endswith("/") else path + "/"


def _route_path(scope: Scope) -> str:
    """The path to route: without the ``root_path`` a proxy mounts the mock under, if it starts with it."""
    path: str = scope["path"]
    root: Any = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path
