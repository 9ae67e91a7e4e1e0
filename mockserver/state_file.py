"""State that survives the process and is shared by every worker: one SQLite database in WAL mode.

It holds the tasks, the request journal, the offset of the clock and the queued outcomes. A create is committed before
its ``202`` is sent, so a mock killed with SIGKILL and started again on the same file still knows
every task it accepted (WAL with ``synchronous=NORMAL`` loses nothing when a process dies; only a
power cut could lose the last transactions).

Workers read the clock each on their own, so two of them may disagree by a few milliseconds about
whether a task has finished. Each task therefore keeps the furthest phase any worker has reported
(:meth:`StateStore.settle`), so that a task reported finished by one worker is finished for all.

Bounds: tasks beyond ``max_tasks`` and journal entries beyond ``journal_size`` are deleted, oldest
first, every ``PRUNE_EVERY`` writes, so either table may briefly hold that many more rows.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mockserver.clock import check_advance
from mockserver.journal import Journal, JournalEntry, Visit
from mockserver.outcome_queue import MAX_QUEUED, OPERATIONS, QueueFull
from mockserver.settings import SettingsError
from mockserver.tasks import Failure, Phase, Task, TaskState

T = TypeVar("T")
PRUNE_EVERY = 500
_ORDER = {Phase.QUEUED: 0, Phase.RUNNING: 1, Phase.SUCCEEDED: 2, Phase.FAILED: 2}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    created_at REAL NOT NULL,
    queue_seconds REAL NOT NULL,
    run_seconds REAL,              -- NULL: the task never ends (a stall)
    video_seconds INTEGER NOT NULL,
    failure_code INTEGER,
    failure_title TEXT,
    failure_detail TEXT,
    failure_stage TEXT,
    reached TEXT,                  -- the furthest phase a worker has reported, and since when
    reached_since REAL,
    rendering TEXT                 -- the key of the video's rendering; NULL: the fixed video
);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS queued (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL, outcome TEXT NOT NULL
);
"""


class StateFileError(SettingsError):
    """The state file cannot be opened, is not a SQLite database, or is damaged."""


class StateFile:
    """One connection per process to the shared database; every call is serialised by a lock."""

    def __init__(self, path: Path) -> None:
        """Open (or make) the state file, and check it whole: a file that is not one, or whose pages
        are damaged, is refused here, at start, with :class:`StateFileError`."""
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self._lock:
                self._db.executescript(_SCHEMA)
                columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(tasks)")}
                if "rendering" not in columns:  # a state file from before rendered videos
                    self._db.execute("ALTER TABLE tasks ADD COLUMN rendering TEXT")
                damage = [str(row[0]) for row in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        except (sqlite3.Error, OSError) as exc:
            raise StateFileError(f"MOCK_STATE_FILE={path} cannot be used as a state file: {exc}") from None
        if damage != ["ok"]:
            self._db.close()
            raise StateFileError(f"MOCK_STATE_FILE={path} is damaged: {'; '.join(damage)[:300]}")
        self.writes = 0

    def execute(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def write(self, sql: str, parameters: tuple[object, ...], prune: str | None = None) -> None:
        with self._lock:
            self._db.execute(sql, parameters)
            self.writes += 1
            if prune is not None and self.writes % PRUNE_EVERY == 0:
                self._db.execute(prune)

    def meta(self, key: str, default: float = 0.0) -> float:
        rows = self.execute("SELECT value FROM meta WHERE key = ?", (key,))
        return float(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: float) -> None:
        self.write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?", (key, value, value)
        )

    def next_number(self, key: str) -> int:
        """The counter ``key`` plus one, stored: each call, in any process, gets a number no other did."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1"
                " RETURNING value",
                (key,),
            ).fetchone()
        return int(row[0])

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` done on the database in one transaction that no other process interleaves with."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def close(self) -> None:
        with self._lock:
            self._db.close()


class StateStore:
    """The task store, in the state file. Same contract as :class:`~mockserver.store.MemoryStore`."""

    def __init__(self, state: StateFile, capacity: int) -> None:
        self.state = state
        self.capacity = capacity
        self._prune = f"DELETE FROM tasks WHERE seq <= (SELECT MAX(seq) FROM tasks) - {int(capacity)}"

    def add(self, task: Task) -> bool:
        failure = task.failure
        try:
            self._insert(task, failure)
        except sqlite3.IntegrityError:  # the id is taken: a task is never replaced
            return False
        return True

    def _insert(self, task: Task, failure: Failure | None) -> None:
        self.state.write(
            "INSERT INTO tasks (id, created_at, queue_seconds, run_seconds, video_seconds, failure_code,"
            " failure_title, failure_detail, failure_stage, rendering) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.created_at,
                task.queue_seconds,
                None if math.isinf(task.run_seconds) else task.run_seconds,
                task.video_seconds,
                failure.code if failure else None,
                failure.title if failure else None,
                failure.detail if failure else None,
                failure.stage.value if failure else None,
                task.rendering,
            ),
            prune=self._prune,
        )

    def get(self, task_id: str) -> Task | None:
        rows = self.state.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return _task(rows[0]) if rows else None

    def settle(self, task: Task, state: TaskState) -> TaskState:
        """The furthest of ``state`` and what any worker has reported for ``task``; records the furthest."""
        rows = self.state.execute("SELECT reached, reached_since FROM tasks WHERE id = ?", (task.id,))
        if rows and rows[0][0] is not None:
            reached = TaskState(Phase(str(rows[0][0])), float(rows[0][1]))
            if _ORDER[reached.phase] >= _ORDER[state.phase]:
                return reached
        if state.phase is not Phase.QUEUED:
            self.state.write(
                "UPDATE tasks SET reached = ?, reached_since = ? WHERE id = ?",
                (state.phase.value, state.since, task.id),
            )
        return state

    def clear(self) -> None:
        self.state.write("DELETE FROM tasks", ())

    def __len__(self) -> int:
        return int(self.state.execute("SELECT COUNT(*) FROM tasks")[0][0])

    def __iter__(self) -> Iterator[Task]:
        rows = self.state.execute(f"SELECT {_COLUMNS} FROM tasks ORDER BY seq")
        return iter([_task(row) for row in rows])


class SharedClock:
    """Wall-clock time plus an offset that every worker reads from the state file."""

    runs = True

    def __init__(self, state: StateFile) -> None:
        self.state = state

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        check_advance(seconds, self.now())
        self.state.set_meta("clock_offset", self.offset + seconds)

    def reset(self) -> None:
        self.state.set_meta("clock_offset", 0.0)

    @property
    def offset(self) -> float:
        return self.state.meta("clock_offset")


class StateQueue:
    """Queued outcomes, in the state file: every worker takes from the same queues. Same contract as
    :class:`~mockserver.outcome_queue.MemoryQueue` (the ``operation`` column holds the lane)."""

    def __init__(self, state: StateFile) -> None:
        self.state = state

    def push(self, lane: str, outcomes: Sequence[str]) -> None:
        def work(db: sqlite3.Connection) -> None:
            waiting = int(db.execute("SELECT COUNT(*) FROM queued").fetchone()[0])
            if waiting + len(outcomes) > MAX_QUEUED:
                raise QueueFull(f"at most {MAX_QUEUED} outcomes may wait; {waiting} do")
            db.executemany("INSERT INTO queued (operation, outcome) VALUES (?, ?)", [(lane, o) for o in outcomes])

        self.state.transaction(work)

    def pop(self, lanes: Sequence[str]) -> str | None:
        # One statement for all the lanes: the first lane that has an outcome, its oldest.
        marks = ", ".join("?" * len(lanes))
        order = " ".join(f"WHEN ? THEN {rank}" for rank in range(len(lanes)))
        rows = self.state.execute(
            f"DELETE FROM queued WHERE seq = (SELECT seq FROM queued WHERE operation IN ({marks})"
            f" ORDER BY CASE operation {order} END, seq LIMIT 1) RETURNING outcome",
            (*lanes, *lanes),
        )
        return str(rows[0][0]) if rows else None

    def pending(self) -> dict[str, list[str]]:
        rows = self.state.execute("SELECT operation, outcome FROM queued ORDER BY seq")
        listed: dict[str, list[str]] = {operation: [] for operation in OPERATIONS}
        for lane, outcome in rows:
            listed.setdefault(str(lane), []).append(str(outcome))
        return listed

    def idle(self) -> bool:
        return False  # another worker may have queued something: only a look can tell

    def has_room(self, count: int) -> bool:
        return int(self.state.execute("SELECT COUNT(*) FROM queued")[0][0]) + count <= MAX_QUEUED

    def clear(self) -> None:
        self.state.write("DELETE FROM queued", ())


class StateJournal(Journal):
    """The request journal, in the state file. Entries are redacted before they are written to disk."""

    def __init__(self, state: StateFile, capacity: int, api_keys: frozenset[str] = frozenset()) -> None:
        super().__init__(capacity, api_keys)
        self.state = state
        self._prune = f"DELETE FROM journal WHERE seq <= (SELECT MAX(seq) FROM journal) - {int(capacity)}"

    def record(self, visit: Visit) -> None:
        entry = json.dumps(self._present(visit).as_dict(), ensure_ascii=False)
        self.state.write("INSERT INTO journal (entry) VALUES (?)", (entry,), prune=self._prune)

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        capacity = self.capacity if limit is None else min(limit, self.capacity)
        rows = self.state.execute("SELECT entry FROM journal ORDER BY seq DESC LIMIT ?", (capacity,))
        return [JournalEntry(**json.loads(str(row[0]))) for row in reversed(rows)]

    @property
    def total(self) -> int:
        """Requests recorded since the last clear, by every worker: the highest sequence number."""
        rows = self.state.execute("SELECT MAX(seq) FROM journal")
        return int(rows[0][0] or 0)

    @total.setter
    def total(self, value: int) -> None:
        pass  # the database counts; the in-memory base class would set it

    @property
    def dropped(self) -> int:
        held = int(self.state.execute("SELECT COUNT(*) FROM journal")[0][0])
        return max(0, self.total - held)

    def clear(self) -> None:
        self.state.write("DELETE FROM journal", ())
        self.state.write("DELETE FROM sqlite_sequence WHERE name = 'journal'", ())


_COLUMNS = (
    "id, created_at, queue_seconds, run_seconds, video_seconds, failure_code, failure_title, failure_detail, "
    "failure_stage, rendering"
)


def _task(row: tuple[Any, ...]) -> Task:
    task_id, created, queue, run, video, code, title, detail, stage, rendering = row
    failure = None
    if code is not None:
        failure = Failure(int(code), str(title), str(detail), Phase(str(stage)))
    return Task(
        id=str(task_id),
        created_at=float(created),
        queue_seconds=float(queue),
        run_seconds=math.inf if run is None else float(run),
        failure=failure,
        video_seconds=int(video),
        rendering=None if rendering is None else str(rendering),
    )
