"""The server's end of its webhook process: the process itself, and the socket between them.

The server never waits on the process. Its messages go out through a non-blocking socket; what the
socket cannot take at once waits in a backlog of at most ``BACKLOG`` bytes, sent as the socket drains,
and a message beyond that is refused (its sender counts what was dropped). Reports come back through
a reader on the server's event loop. The process starts with the first message (a fresh interpreter:
nothing of the server is inherited), starts again if it dies (what it had pending is lost, and a warning says
so; not twice within ``RESTART_AFTER``), and ends when the link is closed, or with the server. A
thread waits for an ended process, so that the event loop never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import pickle
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from mockserver.child_process import start_child
from mockserver.webhook_process import ProcessConfig
from mockserver.webhook_wire import CONFIG, FrameReader, WireError, frame

log = logging.getLogger("mockserver")

# About 15,000 tasks' worth: enough for a burst while the process is starved of the CPU, and bounded.
BACKLOG = 2 * 1024 * 1024
# A process that died is started again no sooner than this many seconds after.
RESTART_AFTER = 1.0
# How long a process that was asked to end (its socket closed) may take, at its low priority, before it is killed.
REAP_SECONDS = 10.0
_READ = 256 * 1024


class Link:
    """One webhook process, and the way to it. Used from one event loop at a time.

    Args:
        config: What the process needs to know.
        on_report: Called, on the loop, with each report the process sends.
        on_start: Called each time the process has started, before any other message goes to it:
            whatever it must know from the start (endpoints, the clock) is sent from there.
    """

    def __init__(
        self,
        config: ProcessConfig,
        on_report: Callable[[tuple[Any, ...]], None],
        on_start: Callable[[], None],
    ) -> None:
        self.config = config
        self.on_report = on_report
        self.on_start = on_start
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backlog = bytearray()
        self._frames = FrameReader()
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._died = -math.inf

    @property
    def running(self) -> bool:
        return self._sock is not None

    @property
    def full(self) -> bool:
        """Whether the backlog is full: an event sent now would be dropped (asked before it is encoded)."""
        return len(self._backlog) >= BACKLOG

    @property
    def pid(self) -> int | None:
        """The process's id, while it runs."""
        process = self._process
        return None if process is None else process.pid

    def send(self, message: tuple[Any, ...], start: bool = True, bounded: bool = True) -> bool:
        """Send ``message`` without waiting; ``False`` if it was dropped. Call on the running event loop.

        Starts the process first if it is not running, unless ``start`` is false: then a message to no
        process is not sent (what it says is sent by ``on_start`` anyway). A ``bounded`` message (events)
        is dropped when the backlog is full; another (a few bytes that say how things stand: the clock,
        the endpoints, a reset) goes past the bound, since losing it would leave the process wrong.
        """
        sock = self._sock
        if sock is None and not start:
            return True
        if sock is None or self._loop is not asyncio.get_running_loop():
            if not self._open(asyncio.get_running_loop()):
                return False
            sock = self._sock
            assert sock is not None
        data = frame(message)
        backlog = self._backlog
        if backlog:
            if bounded and len(backlog) + len(data) > BACKLOG:
                return False
            backlog += data
            return True
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost()
            return False
        if sent < len(data):
            backlog += data[sent:]
            self._watch(writing=True)
        return True

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the process's reports on ``loop`` from now on (a process already running, attached to a loop
        that may have closed), starting with those waiting on the socket now."""
        if self._sock is None or self._loop is loop:
            return
        self._unwatch()
        self._loop = loop
        self._watch(writing=bool(self._backlog))
        self._readable()

    def close(self) -> None:
        """End the process (it ends when its end of the socket closes; it is killed if it does not)."""
        self._unwatch()
        sock, process = self._sock, self._process
        self._sock = self._process = self._loop = None
        self._backlog.clear()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if sock is not None and process is not None:
            _end(sock, process)  # reaped away from the event loop, which must not wait for it

    def _open(self, loop: asyncio.AbstractEventLoop) -> bool:
        if self._sock is not None and self._process is not None and self._process.poll() is None:
            self._unwatch()  # another loop now: the reader moves to it
            self._loop = loop
            self._watch(writing=bool(self._backlog))
            return True
        self.close()
        if time.monotonic() - self._died < RESTART_AFTER:
            return False  # one that dies at once is not started again and again
        # A fresh interpreter (see child_process): a script that serves the app at its top level is not run again.
        ours, process = start_child("mockserver.webhook_process", "main")
        # What it needs to know comes first, pickled (the process is this program, started by it).
        ours.sendall(frame((CONFIG, pickle.dumps(self.config))))
        ours.setblocking(False)
        self._sock, self._process, self._loop = ours, process, loop
        self._frames = FrameReader()
        # A link dropped without close() (an app served without its lifespan) still ends its process.
        self._finalizer = weakref.finalize(self, _end, ours, process)
        self._watch(writing=False)
        self.on_start()
        return True

    def _watch(self, writing: bool) -> None:
        loop, sock = self._loop, self._sock
        if loop is None or sock is None:
            return
        loop.add_reader(sock.fileno(), self._readable)
        if writing:
            loop.add_writer(sock.fileno(), self._writable)

    def _unwatch(self) -> None:
        loop, sock = self._loop, self._sock
        if loop is None or sock is None or loop.is_closed():
            return
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        try:
            reports = self._frames.feed(data)
        except WireError as exc:
            log.error("webhooks: the webhook process sent %s; it is stopped", exc)
            self._lost()
            return
        for report in reports:
            self.on_report(report)

    def _writable(self) -> None:
        sock, backlog = self._sock, self._backlog
        if sock is None:
            return
        try:
            sent = sock.send(backlog)
        except BlockingIOError:
            return
        except OSError:
            self._lost()
            return
        del backlog[:sent]
        if not backlog and self._loop is not None:
            self._loop.remove_writer(sock.fileno())

    def _lost(self) -> None:
        if self._sock is None:
            return
        log.warning("webhooks: the webhook process ended; the events it had pending are lost (it starts again)")
        self._died = time.monotonic()
        with contextlib.suppress(OSError):
            self.close()


def _end(sock: socket.socket, process: subprocess.Popen[bytes]) -> None:
    """Close the server's end, which ends the process, and have a thread wait for it to end."""
    sock.close()
    threading.Thread(target=_reap, args=(process,), name="spark-mock-webhooks-reaper", daemon=True).start()


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for the process to end (it does once its socket is closed); kill it if it does not."""
    try:
        process.wait(timeout=REAP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
