"""The process that renders videos: away from the server's event loop and its GIL, at a low priority.

A thread of the server would hold the GIL between frames and take the CPU from the event loop
(measured: stalls of the loop up to 12 ms, half its iterations); a process of its own, niced, leaves
creates and polls as fast as without it. One child serves the whole server process, one rendering at
a time; it starts on the first rendering (a fresh interpreter, :mod:`mockserver.child_process`:
nothing of the server is inherited, and no script is run again), starts again if it dies, and stops
when it has been idle a while.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from mockserver.child_process import start_child
from mockserver.video_recipe import Recipe

# Low enough that the server keeps the CPU when both want it; not 19, which would starve a rendering
# whenever anything else runs (a client's test suite, say) and leave a download waiting.
NICENESS = 10
# A rendering takes a second or two; one that takes this long is stuck, and its process is killed.
RENDER_TIMEOUT = 300.0


class Job(NamedTuple):
    """One rendering to make: written to ``part``, then renamed to ``final`` once complete; ``shared``:
    other processes use the same directory."""

    recipe: Recipe
    part: Path
    final: Path
    shared: bool = False


class Outcome(NamedTuple):
    """How a job ended: ``error`` is ``None`` when its file is in place."""

    job: Job
    error: str | None
    seconds: float


class RenderWorker:
    """The child process, and the one job it is working on. Used by one thread (the scheduler)."""

    def __init__(self, niceness: int = NICENESS, timeout: float = RENDER_TIMEOUT) -> None:
        self.niceness = niceness
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._job: Job | None = None
        self._started = 0.0

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(self, job: Job) -> None:
        """Send ``job`` to the child (started first, if it is not running)."""
        if self._job is not None:
            raise RuntimeError("the render worker is busy")
        if self._conn is None or self._process is None or self._process.poll() is not None:
            self._launch()
        assert self._conn is not None
        self._job, self._started = job, time.monotonic()
        with contextlib.suppress(OSError):  # the child died between jobs: the wait below reports it
            self._conn.send(job)

    def wait(self, timeout: float) -> Outcome | None:
        """The outcome of the job in hand, if it ends within ``timeout`` seconds; else ``None``."""
        job, conn = self._job, self._conn
        if job is None or conn is None:
            return None
        error: str | None
        try:
            if not conn.poll(timeout):
                if time.monotonic() - self._started < self.timeout:
                    return None
                self.close()
                error = f"the rendering took more than {self.timeout:g} s; its process was stopped"
            else:
                error = conn.recv()
        except (EOFError, OSError):
            self.close()
            error = "the render process ended unexpectedly"
        self._job = None
        if error is not None:
            with contextlib.suppress(OSError):
                job.part.unlink()
        return Outcome(job, error, time.monotonic() - self._started)

    def close(self) -> None:
        """Stop the child (it is started again for the next job): asked to, when it is idle; killed, when
        it is working (it would finish its rendering before it read the request)."""
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if conn is not None and process is not None:
            _stop(conn, process, working=self._job is not None)

    def _launch(self) -> None:
        self.close()
        sock, process = start_child("mockserver.render_worker", "main")
        conn = Connection(sock.detach())
        try:
            conn.send(self.niceness)
        except BaseException:
            _stop(conn, process, working=True)
            raise
        self._conn, self._process = conn, process
        # A worker dropped without close() (a server that never stopped its queue) still ends its process.
        self._finalizer = weakref.finalize(self, _stop, conn, process, False)


def _stop(conn: Connection, process: subprocess.Popen[bytes], working: bool) -> None:
    with contextlib.suppress(OSError):
        conn.send(None)
    conn.close()
    try:
        process.wait(timeout=0 if working else 1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def main(fd: int) -> None:
    """The child's entry point (:func:`mockserver.child_process.start_child`): ``fd`` is its end of the socket
    to the server, which first sends the niceness to take."""
    conn = Connection(fd)
    try:
        niceness = conn.recv()
    except (EOFError, OSError):
        return
    serve(conn, niceness)


def serve(conn: Connection, niceness: int) -> None:
    """The child's loop: render each job it is sent, answer ``None`` or what went wrong; stop on ``None``
    or when the server has gone."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(niceness, os.getpriority(os.PRIO_PROCESS, 0)))
    from mockserver.footage import render  # here: the server process never loads the encoder

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            render(job.recipe, job.part)
            os.replace(job.part, job.final)
            answer = None
        except Exception as exc:  # anything: the server falls back, and says what happened
            answer = f"{type(exc).__name__}: {exc}"[:500]
        try:
            conn.send(answer)
        except OSError:
            return
