"""Renderings waiting for the render process: one queue, and one thread that feeds it, per server process.

Creates put jobs in (a lock and a dict: microseconds, on the event loop); the thread takes them out
oldest first, except that a job a download is waiting for goes to the front. The queue is bounded in
jobs and in the bytes of the images they hold: a job that does not fit is not queued, and its video
is made when it is asked for, without its images (:func:`mockserver.video_recipe.stand_in`).

The thread moves no task: a task's status stays a function of the task and the clock. It only turns
recipes into files.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from mockserver.render_worker import Job, Outcome, RenderWorker

log = logging.getLogger("mockserver")

MAX_JOBS = 1000
# Images held by waiting jobs, at most: a dozen of the largest bodies the mock takes.
MAX_BYTES = 256 * 1024 * 1024
# While a rendering runs, the thread looks at its queue this often (new jobs get their markers).
POLL_SECONDS = 0.05
# The render process is stopped after this long without work (it holds FFmpeg's and NumPy's memory).
IDLE_SECONDS = 60.0

Done = Callable[[Outcome], None]


class RenderQueue:
    """The jobs of every video cache of this process, and the thread that renders them one at a time.

    A job's ``part`` file is made as soon as the thread sees the job (within :data:`POLL_SECONDS`):
    another worker process of the same state file reads it as "being rendered" and waits for the file.
    """

    def __init__(
        self,
        worker: RenderWorker | None = None,
        *,
        max_jobs: int = MAX_JOBS,
        max_bytes: int = MAX_BYTES,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self._worker = worker or RenderWorker()
        self._cond = threading.Condition()
        self._jobs: OrderedDict[Path, tuple[Job, Done]] = OrderedDict()
        self._unmarked: list[Job] = []
        self._bytes = 0
        self._thread: threading.Thread | None = None
        self._current: tuple[Job, Done] | None = None

    def submit(self, job: Job, done: Done) -> bool:
        """Queue ``job``; ``done`` is called with its outcome, on the queue's thread. ``False`` (nothing
        queued) when the queue is full."""
        size = job.recipe.input_bytes
        with self._cond:
            if job.final in self._jobs:
                return True
            if len(self._jobs) >= self.max_jobs or self._bytes + size > self.max_bytes:
                return False
            self._jobs[job.final] = (job, done)
            self._unmarked.append(job)
            self._bytes += size
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spark-mock-render-queue", daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def hurry(self, final: Path) -> None:
        """Put the job that makes ``final`` at the front: a download waits for it."""
        with self._cond:
            if final in self._jobs:
                self._jobs.move_to_end(final, last=False)

    def __len__(self) -> int:
        return len(self._jobs) + (self._current is not None)

    def _run(self) -> None:
        worker = self._worker
        while True:
            with self._cond:
                while not self._unmarked and not self._jobs and not worker.busy:
                    if not self._cond.wait(self.idle_seconds):
                        worker.close()
                unmarked, self._unmarked = self._unmarked, []
                started = None
                if not worker.busy and self._jobs:
                    _, started = self._jobs.popitem(last=False)
                    self._bytes -= started[0].recipe.input_bytes
                    self._current = started
            for job in unmarked:
                with contextlib.suppress(OSError):
                    job.part.touch()
            if started is not None:
                self._start(worker, *started)
            if worker.busy:
                outcome = worker.wait(POLL_SECONDS)
                if outcome is not None:
                    self._finish(outcome)

    def _start(self, worker: RenderWorker, job: Job, done: Done) -> None:
        if job.final.exists():  # another process of the same cache made it meanwhile
            with contextlib.suppress(OSError):
                job.part.unlink()
            self._finish(Outcome(job, None, 0.0))
            return
        try:
            worker.start(job)
        except Exception as exc:  # no process to render in (none could be started): said, not hung on
            worker.close()
            self._finish(Outcome(job, f"the render process could not start: {exc}", 0.0))

    def _finish(self, outcome: Outcome) -> None:
        current, self._current = self._current, None
        if outcome.error is not None:
            log.error("rendering %s failed: %s", outcome.job.final.name, outcome.error)
        if current is not None:
            try:
                current[1](outcome)
            except Exception:  # a cache's bookkeeping must not stop the queue
                log.exception("after rendering %s", outcome.job.final.name)


_shared: RenderQueue | None = None
_shared_lock = threading.Lock()


def shared_queue() -> RenderQueue:
    """The queue of this process (made on first use): one render process serves every app in it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderQueue()
        return _shared
