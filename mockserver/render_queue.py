"""Renderings waiting for the render process: one queue, and one thread that feeds it, per server process.

Creates put jobs in (a lock, a dict and a heap: microseconds, on the event loop), each due a little
before its task is to succeed (:func:`lead_seconds` ahead): the video is there when the task ends, and
a task nobody waits for until the mock stops (most of a test suite's) costs no rendering. The thread
starts the due jobs, earliest first; a job a download is waiting for is due at once, and goes first.
The queue is bounded in jobs and in the bytes of the images they hold: a job that does not fit is not
queued, and its video is made when it is asked for, without its images
(:func:`mockserver.video_recipe.stand_in`).

The thread moves no task: a task's status stays a function of the task and the clock. It only turns
recipes into files.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mockserver.render_worker import Job, Outcome, RenderWorker

log = logging.getLogger("mockserver")

MAX_JOBS = 1000
# Images held by waiting jobs, at most: a dozen of the largest bodies the mock takes.
MAX_BYTES = 256 * 1024 * 1024
# While it waits, the thread looks at its queue this often: new jobs get their part files, and a
# download through another process of the same directory asks for a job to be hurried (WANTED).
POLL_SECONDS = 0.05
WANTED = ".wanted"
# The render process is stopped after this long without work (it holds FFmpeg's and NumPy's memory).
IDLE_SECONDS = 60.0
# At exit, how long the thread may take to put down what it is doing (it looks every POLL_SECONDS).
STOP_SECONDS = 10.0

Done = Callable[[Outcome], None]


def lead_seconds(video_seconds: int) -> float:
    """How long before its task succeeds a rendering starts: a few times what it takes on a quiet machine
    (about a tenth of the video's length, and a start), so that it is there in time on a busy one."""
    return 3.0 + 0.3 * video_seconds


class RenderQueue:
    """The jobs of every video cache of this process, and the thread that renders them one at a time.

    A job's ``part`` file is made as soon as the thread sees the job (within :data:`POLL_SECONDS`):
    another worker process of the same state file reads it as "being rendered", waits for the file,
    and leaves a ``<key>.wanted`` file to have it rendered now.
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
        self._jobs: dict[Path, tuple[Job, Done, float]] = {}  # final file -> job, callback, due (monotonic)
        self._due: list[tuple[float, int, Path]] = []  # a heap; entries whose due has changed are skipped
        self._order = itertools.count()
        self._unmarked: list[Job] = []
        self._bytes = 0
        self._shared_jobs = 0
        self._thread: threading.Thread | None = None
        self._current: tuple[Job, Done] | None = None
        self._stopping = False

    def submit(self, job: Job, done: Done, due: float = 0.0) -> bool:
        """Queue ``job``, to start at ``due`` (``time.monotonic()``'s clock; 0: now); ``done`` is called
        with its outcome, on the queue's thread. ``False`` (nothing queued) when the queue is full."""
        size = job.recipe.input_bytes
        with self._cond:
            queued = self._jobs.get(job.final)
            if queued is not None:  # an identical request: its rendering is due by the earlier time
                if due < queued[2]:
                    self._reschedule(job.final, due)
                return True
            if len(self._jobs) >= self.max_jobs or self._bytes + size > self.max_bytes:
                return False
            self._jobs[job.final] = (job, done, due)
            heapq.heappush(self._due, (due, next(self._order), job.final))
            self._unmarked.append(job)
            self._bytes += size
            self._shared_jobs += job.shared
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="spark-mock-render-queue", daemon=True)
                self._thread.start()
                # A daemon thread still starting a process while the interpreter finalizes can abort it.
                atexit.register(self.stop)
            self._cond.notify()
        return True

    def hurry(self, final: Path) -> None:
        """Start the job that makes ``final`` next: a download waits for it."""
        with self._cond:
            if final in self._jobs:
                self._reschedule(final, 0.0)

    def stop(self) -> None:
        """Stop the thread (the jobs still waiting are dropped) and the render process."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STOP_SECONDS)
        self._worker.close()

    def _reschedule(self, final: Path, due: float) -> None:
        job, done, _ = self._jobs[final]
        self._jobs[final] = (job, done, due)
        heapq.heappush(self._due, (due, next(self._order), final))
        self._cond.notify()

    def _run(self) -> None:
        worker = self._worker
        while True:
            with self._cond:
                if not worker.busy and not self._unmarked:
                    wait = self._next_wait()
                    if wait > 0 and not self._cond.wait(wait) and not self._jobs:
                        worker.close()  # nothing to do for a while: the process's memory back
                if self._stopping:
                    return
                unmarked, self._unmarked = self._unmarked, []
                started = None
                if not worker.busy and self._jobs and self._next_wait() <= 0:
                    started = self._pop_due()
                    self._current = started
                watched = (
                    {job.final.parent for job, _, _ in self._jobs.values() if job.shared} if self._shared_jobs else ()
                )
            for job in unmarked:
                with contextlib.suppress(OSError):
                    job.part.touch()
            self._wanted(watched)
            if started is not None:
                self._start(worker, *started)
            if worker.busy:  # the wait for its outcome paces the loop
                outcome = worker.wait(POLL_SECONDS)
                if outcome is not None:
                    self._finish(outcome)

    def _next_wait(self) -> float:
        """Seconds until the next job is due (0 or less: now); the idle time without any. While jobs of
        a shared directory wait, at most POLL_SECONDS: another process may want one of them."""
        if self._stopping:
            return 0.0
        due = self._due
        while due and self._jobs.get(due[0][2], (None, None, -1.0))[2] != due[0][0]:
            heapq.heappop(due)  # superseded by a later entry
        if not due:
            return self.idle_seconds
        until = due[0][0] - time.monotonic()
        return min(POLL_SECONDS, until) if self._shared_jobs else until

    def _pop_due(self) -> tuple[Job, Done]:
        _, _, final = heapq.heappop(self._due)
        job, done, _ = self._jobs.pop(final)
        self._bytes -= job.recipe.input_bytes
        self._shared_jobs -= job.shared
        return job, done

    def _wanted(self, directories: Iterable[Path]) -> None:
        """Hurry the jobs that a download through another process waits for (its WANTED files)."""
        for directory in directories:
            for wanted in directory.glob(f"*{WANTED}"):
                final = directory / (wanted.name[: -len(WANTED)] + ".mp4")
                if final in self._jobs:  # another process's job is that process's to hurry
                    with contextlib.suppress(OSError):
                        wanted.unlink()
                    self.hurry(final)

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
