"""uvicorn's HTTP protocol (httptools), with the responses of one event-loop turn sent together.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body when it sends ``http.response.body``; uvloop sends each
write at once. For an answer as small as a 202 that is two system calls where one would do, and on
loopback, where the mock's clients are, each write also does the receiver's work and wakes the
receiver, in the sender's time: much of the CPU time of a create was the kernel's.
:class:`CoalescingTransport` holds a connection's writes until the end of the event-loop turn (as
Netty's ``FlushConsolidationHandler`` does) and sends them as one: one system call per response,
and the responses of a turn leave one after the other, while their clients are still awake, rather
than one per wake-up (benchmarks/results.md has what that changed). Held bytes also go out when the
connection closes, when the client ends its stream, or once 64 KiB are held. The order of the
bytes, flow control and closing stay uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockserver.errors import ApiError
from mockserver.frontdoor import traceparent

#: What uvicorn's ``--http`` option takes to use this protocol.
IMPORT_PATH = "mockserver.http_protocol:CoalescingHttpToolsProtocol"
#: How uvicorn serves the mock, whatever the settings (the benchmark's floor is served the same way).
SERVER_OPTIONS: dict[str, object] = {
    # X-Forwarded-* would only change the video links' base, which --public-url sets; reading them
    # costs a share of every create. The live API does not say `server: uvicorn` either.
    "proxy_headers": False,
    "server_header": False,
    "http": IMPORT_PATH,  # one system call per response, not two
    "ws": "none",  # the API has no WebSocket; not loading uvicorn's shortens the start
}
#: The most a request's headers may take, request line included (nginx's default is 32 KiB).
MAX_HEADER_BYTES = 64 * 1024
#: Seconds a request's headers or body may stall once begun.
DEFAULT_READ_TIMEOUT = 30.0
#: Held bytes go out at once past this size, so that a producer that never yields stays bounded
#: (uvicorn's flow control only sees what reached the real transport).
FLUSH_AT = 64 * 1024

log = logging.getLogger("mockserver")


class CoalescingTransport:
    """A transport that holds writes and sends them as one (see the module); everything it does not
    define goes to the transport it wraps."""

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes | bytearray | memoryview] | None = None
        self._held = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        size = memoryview(data).nbytes  # also refuses what is not bytes-like, here, in the sender's send()
        if self._pending is None:
            self._pending = []
            self._loop.call_soon(self.flush)  # at the latest at the end of this turn
        self._pending.append(data)
        self._held += size
        if self._held >= FLUSH_AT:
            self.flush()

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is held, if the connection still takes it."""
        pending, self._pending, self._held = self._pending, None, 0
        if not pending or self._transport.is_closing():
            return
        try:
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        except Exception:  # from a loop callback, nobody else would hear of it: end the connection
            log.exception("could not send a response")
            self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # what was written before the close goes out before it
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._held = None, 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._held + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport`, which it flushes before it
    lets a client's end of stream close the connection.

    It also bounds what uvicorn leaves open: pipelined requests are read one chunk at a time (no more
    until those read are answered); a request's headers may take at most
    ``max_header_bytes`` (else ``431``), and neither they nor its body may stall for
    ``read_timeout`` seconds once begun (else ``408``); both in the API's error shape, and the
    connection is closed. The timer runs only for a request that did not arrive whole in one chunk,
    so the common request costs nothing. :func:`configure` sets the timeout for the serving process.
    """

    transport: CoalescingTransport  # type: ignore[assignment]
    max_header_bytes = MAX_HEADER_BYTES
    read_timeout = DEFAULT_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_bytes = 0  # bytes received since the last request's headers ended
        self._in_body = False  # from the end of a request's headers to the end of the request
        self._last_data = 0.0
        self._tail = b""  # the last bytes of the headers so far, where their end may have begun
        self._stall_timer: asyncio.TimerHandle | None = None
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            before = self._header_bytes
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes and not self._headers_end_in_time(data, before):
                self._refuse(431, f"The request's headers are larger than {self.max_header_bytes} bytes")
                return
        super().data_received(data)
        # A request begun and not ended by this chunk (most requests arrive whole in their first one):
        # its headers, or its body, must keep coming.
        partial_headers = not self._in_body and self._header_bytes
        if (partial_headers or self._in_body) and not self.transport.is_closing():
            if partial_headers:
                self._tail = data[-3:]
            self._last_data = self.loop.time()
            if self._stall_timer is None:
                self._stall_timer = self.loop.call_later(self.read_timeout, self._check_stall)

    def _headers_end_in_time(self, data: bytes, before: int) -> bool:
        """Whether the headers end in ``data`` (the body may follow in the same chunk) within the bound."""
        end = (self._tail + data).find(b"\r\n\r\n")
        return end >= 0 and before - len(self._tail) + end + 4 <= self.max_header_bytes

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._header_bytes, self._tail = 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # resumes reading, and starts the next pipelined request
        if self.pipeline and not self.transport.is_closing():
            # uvicorn resumes reading after every answer, and each read can add a chunk's worth of
            # pipelined requests while one leaves: a client that pipelines and never reads grew the
            # process by gigabytes. Read more only once the requests already read are answered.
            self.flow.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        super().connection_lost(exc)

    def _check_stall(self) -> None:
        self._stall_timer = None
        if not (self._in_body or self._header_bytes) or self.transport.is_closing():
            return
        idle = self.loop.time() - self._last_data
        if idle < self.read_timeout or (self.flow is not None and self.flow.read_paused):
            # Not the client's doing when the app has not read what came (a body waiting for its turn).
            wait = self.read_timeout - idle if idle < self.read_timeout else self.read_timeout
            self._stall_timer = self.loop.call_later(wait, self._check_stall)
            return
        part = "body" if self._in_body else "headers"
        self._refuse(408, f"The request's {part} stopped coming for {self.read_timeout:g} seconds")

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` in the API's shape, unless an answer is under way, and close the connection."""
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            body = ApiError(status, detail).body()
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\ntraceparent: {traceparent(None)}\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()

    # A complete response is not flushed at once on purpose: sending it synchronously, with the next
    # one a little later, wakes its client each time and loses most of the gain.

    def eof_received(self) -> None:
        # The transport closes itself when this returns: what the app wrote must be out by then.
        self.transport.flush()
        super().eof_received()


def configure(read_timeout: float) -> None:
    """Set the read timeout of every connection this process serves (the ``read_timeout`` setting)."""
    CoalescingHttpToolsProtocol.read_timeout = read_timeout
