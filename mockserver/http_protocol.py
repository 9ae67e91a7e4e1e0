"""uvicorn's HTTP protocol (httptools), with each response sent in one system call instead of two.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body when it sends ``http.response.body``; uvloop sends each
write at once. For an answer as small as a 202 that is two system calls and two TCP segments
where one would do, and on loopback each costs the sender the receiver's work as well (about 30 %
of the CPU time of a create is the kernel's). :class:`CoalescingTransport` holds the writes made in one
turn of the event loop and sends them together at the start of the next: the order of the bytes,
flow control and closing are uvicorn's as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: What uvicorn's ``--http`` option takes to use this protocol.
IMPORT_PATH = "mockserver.http_protocol:CoalescingHttpToolsProtocol"


class CoalescingTransport:
    """A transport that sends the writes of one event-loop turn as one write; everything else
    goes to the transport it wraps."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        """Send what is held, if the connection still takes it."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()  # what was written before the close goes out before it
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        held = sum(map(len, self._pending)) if self._pending else 0
        return held + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
