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
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
    lets a client's end of stream close the connection."""

    transport: CoalescingTransport  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    # A complete response is not flushed at once on purpose: sending it synchronously, with the next
    # one a little later, wakes its client each time and loses most of the gain.

    def eof_received(self) -> None:
        # The transport closes itself when this returns: what the app wrote must be out by then.
        self.transport.flush()
        super().eof_received()
