"""The renderings on disk: made ahead when a task is created, waited for when a download comes first,
and kept in a bounded cache, the least recently used going first.

Each rendering is a file named by its recipe's key (``<key>.mp4``), written elsewhere and renamed
once complete, so a download never finds a part of one. With a state file, the directory is named
after it (``<state file>-videos``), so renderings outlive a restart and are shared by the workers;
without one, a temporary directory serves the whole process and is removed when it ends.

A download whose rendering is not there (dropped from the cache, or lost with a process that died
making it) gets it made again from the key alone: the same length, sound and shots, with plain
pictures, since a task does not keep its images (``<key>.standin.mp4``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path

from mockserver.render_queue import WANTED, RenderQueue, lead_seconds, shared_queue
from mockserver.render_worker import Job, Outcome
from mockserver.video_recipe import Recipe, stand_in

SUFFIX = ".mp4"
STAND_IN = ".standin"
# How often a waiting download looks again, and how long it waits in all.
WAIT_POLL_SECONDS = 0.01
WAIT_SECONDS = 120.0
# Renderings that failed, remembered so as not to try them again on every download.
MAX_FAILED = 1000


class VideoNotReady(Exception):
    """The rendering did not come within the wait; the download may be tried again."""


class VideoCache:
    """The renderings of one directory, at most ``capacity`` of them.

    Args:
        directory: Where they are kept; ``None`` for a temporary directory, removed at exit.
        capacity: How many renderings are kept; past that, the least recently used go.
        queue: Where jobs go; the process's shared queue by default.
        shared: Other processes use the directory too (and may evict): a rendering this one has seen
            is looked for on disk before it is taken to be there.
    """

    def __init__(
        self, directory: Path | None, capacity: int, queue: RenderQueue | None = None, *, shared: bool = False
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="spark-mock-videos-"))
            weakref.finalize(self, shutil.rmtree, directory, True)
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.capacity = capacity
        self.shared = shared
        self._queue = queue
        self._lock = threading.Lock()
        self._pending: dict[str, Job] = {}
        self._due: dict[str, float] = {}  # the earliest time each pending rendering was asked for
        self._failed: set[str] = set()
        self._leases: Counter[str] = Counter()
        # Stem -> the file's path as a string: a create that finds its rendering here looks no further
        # (but for a shared directory, one stat of that string: a microsecond or two).
        self._ready: OrderedDict[str, str] = OrderedDict(
            (path.stem, str(path)) for path in sorted(self._files(), key=_mtime)
        )
        self._pid = os.getpid()
        self._clear_dead_parts()

    def want(self, recipe: Recipe, ready_in: float = 0.0) -> None:
        """Have the rendering of ``recipe`` made by the time its task succeeds, ``ready_in`` seconds from
        now, unless it is there already. On every create: when it is there, two lookups."""
        stem = recipe.key
        found = self._ready.get(stem)
        if found is not None and not (self.shared and not os.path.exists(found)):
            return
        due = time.monotonic() + max(0.0, ready_in - lead_seconds(recipe.seconds))
        pending = self._pending.get(stem)
        if pending is not None:  # on its way; due by this task's time, if that is earlier
            # Identical creates come in a stream, each task due later than the one before: the queue
            # (and its lock) is asked only when this one is due sooner than any asked before.
            if due < self._due.get(stem, math.inf):
                self._due[stem] = due
                self.queue.submit(pending, self._finished, due)
            return
        self._request(recipe, stem, due)

    async def file(self, key: str) -> Path | None:
        """The rendering of ``key``, waiting for it if it is being made, or having it made (without its
        images) if nobody is making it. ``None`` when it cannot be made (the caller serves the fixed
        video); :class:`VideoNotReady` after :data:`WAIT_SECONDS`."""
        final = self._path(key)
        deadline = time.monotonic() + WAIT_SECONDS
        hurried = asked = False
        wanted = self.directory / f"{key}{WANTED}"
        try:
            while True:
                if final.is_file():
                    return final
                if key in self._pending:
                    if not hurried:
                        self.queue.hurry(final)
                        hurried = True
                elif self._made_elsewhere(key):
                    if not asked:  # that process renders it now (render_queue.WANTED)
                        with contextlib.suppress(OSError):
                            wanted.touch()
                        asked = True
                elif (made_again := self._path(key + STAND_IN)).is_file():  # nobody makes the real one
                    return made_again
                elif key + STAND_IN not in self._pending:
                    recipe = stand_in(key)
                    if recipe is None or key + STAND_IN in self._failed:
                        return None
                    self._request(recipe, key + STAND_IN, 0.0)
                if time.monotonic() > deadline:
                    raise VideoNotReady(f"the video {key} is still being rendered")
                await asyncio.sleep(WAIT_POLL_SECONDS)
        finally:
            if asked:  # gone already if that process saw it
                with contextlib.suppress(OSError):
                    wanted.unlink()

    def lease(self, path: Path) -> Callable[[], None]:
        """Keep ``path`` from being evicted until the returned function is called (a download in
        progress); marks it as just used."""
        stem = path.stem
        with self._lock:
            self._leases[stem] += 1
            if stem in self._ready:
                self._ready.move_to_end(stem)
        with contextlib.suppress(OSError):
            os.utime(path)  # the other processes evict by the files' times

        def release() -> None:
            with self._lock:
                self._leases[stem] -= 1
                if self._leases[stem] <= 0:
                    del self._leases[stem]

        return release

    @property
    def queue(self) -> RenderQueue:
        if self._queue is None:
            self._queue = shared_queue()
        return self._queue

    def _request(self, recipe: Recipe, stem: str, due: float) -> None:
        job = Job(recipe, self.directory / f"{stem}.{self._pid}.part", self._path(stem), self.shared)
        with self._lock:
            if stem in self._pending:
                return
            self._pending[stem] = job
            self._due[stem] = due
        if not self.queue.submit(job, self._finished, due):
            with self._lock:
                self._pending.pop(stem, None)
                self._due.pop(stem, None)

    def _finished(self, outcome: Outcome) -> None:
        stem = outcome.job.final.stem
        with self._lock:
            self._pending.pop(stem, None)
            self._due.pop(stem, None)
            if outcome.error is None:
                self._ready[stem] = str(outcome.job.final)
                self._ready.move_to_end(stem)
                self._failed.discard(stem)
            elif len(self._failed) < MAX_FAILED:
                self._failed.add(stem)
        if outcome.error is None:
            self._evict()

    def _evict(self) -> None:
        """Down to ``capacity`` files, the least recently used (by the file's time: every process
        touches what it serves) going first; a file being downloaded from this process stays."""
        files = sorted(self._files(), key=_mtime)
        with self._lock:
            excess = len(files) - self.capacity
            for path in files:
                if excess <= 0:
                    break
                if self._leases[path.stem] > 0:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self._ready.pop(path.stem, None)
                excess -= 1
            if excess <= 0:
                return
        # Only leased files are left over: the bound holds again once their downloads end.

    def _files(self) -> list[Path]:
        return [path for path in self.directory.glob(f"*{SUFFIX}") if path.is_file()]

    def _path(self, stem: str) -> Path:
        return self.directory / f"{stem}{SUFFIX}"

    def _made_elsewhere(self, key: str) -> bool:
        """Whether a live process of this cache is making ``key`` (its part file is there)."""
        for part in self.directory.glob(f"{key}.*.part"):
            pid = part.suffixes[-2][1:] if len(part.suffixes) >= 2 else ""
            if pid.isdigit() and int(pid) != self._pid and _alive(int(pid)):
                return True
        return False

    def _clear_dead_parts(self) -> None:
        for part in self.directory.glob("*.part"):
            pid = part.suffixes[-2][1:] if len(part.suffixes) >= 2 else ""
            if not (pid.isdigit() and _alive(int(pid))):
                with contextlib.suppress(OSError):
                    part.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_caches: dict[Path | None, VideoCache] = {}
_caches_lock = threading.Lock()


def video_cache(directory: Path | None, capacity: int, *, shared: bool = False) -> VideoCache:
    """The cache of ``directory`` in this process (made on first use): every app of the process that
    names the same directory (or none: the process's temporary one) shares it, with the capacity the
    latest one asked for."""
    where = None if directory is None else directory.resolve()
    with _caches_lock:
        cache = _caches.get(where)
        if cache is None:
            cache = _caches[where] = VideoCache(where, capacity, shared=shared)
        cache.capacity, cache.shared = capacity, cache.shared or shared
        return cache
