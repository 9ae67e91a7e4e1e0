"""What the workers of one state file share about webhooks: the endpoints, resets, the log, the counts.

Each worker sends the events of the tasks it created, through its own webhook process. What the admin
API changes must reach every worker, and what it shows must be every worker's: so the endpoints
registered at run time, the generation (a reset's number), every delivery attempt and each worker's
counts live in the state file. A worker looks at ``version`` once a second, and takes the endpoints
and the generation again when it has moved; so an endpoint added, or a reset, through one worker
reaches the others within a second.

The endpoints' secrets are stored too (they sign the deliveries), so the state file is made readable
by its owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from mockserver.state_file import StateFile
from mockserver.webhook_endpoints import Endpoint
from mockserver.webhook_ledger import WebhookLedger

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhook_endpoints (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
    " url TEXT NOT NULL, secret TEXT NOT NULL, description TEXT NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_attempts (seq INTEGER PRIMARY KEY AUTOINCREMENT, attempt TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_counts (worker INTEGER PRIMARY KEY, pending INTEGER, events_dropped INTEGER,"
    " queued INTEGER, deliveries_dropped INTEGER)",
)
# Meta keys: any change to the endpoints or the generation moves VERSION.
VERSION, GENERATION, CHANGED, TOTAL = "webhook_version", "webhook_generation", "webhook_endpoints_set", "webhook_total"


class SharedLedger(WebhookLedger):
    """The webhook ledger of every worker on ``state`` (see the module); the log keeps ``log_size`` attempts."""

    shared = True

    def __init__(self, state: StateFile, log_size: int) -> None:
        super().__init__(log_size)
        self.state = state
        for statement in _SCHEMA:
            state.execute(statement)
        # SQLite makes its -wal and -shm files with the database's mode; those already there are changed too.
        for path in (
            state.path,
            state.path.with_name(state.path.name + "-wal"),
            state.path.with_name(state.path.name + "-shm"),
        ):
            with contextlib.suppress(OSError):  # none yet, or not ours to change: then it keeps the mode it has
                os.chmod(path, 0o600)

    def version(self) -> float:
        """Moves whenever the endpoints or the generation change."""
        return self.state.meta(VERSION)

    def generation(self) -> int:
        return int(self.state.meta(GENERATION))

    def endpoints(self) -> list[Endpoint] | None:
        """The endpoints as last set by any worker; ``None``: those configured (none was set since the last reset)."""
        if not self.state.meta(CHANGED):
            return None
        rows = self.state.execute("SELECT id, url, secret, description, created_at FROM webhook_endpoints ORDER BY seq")
        return [Endpoint(str(i), str(u), str(s), str(d), float(c)) for i, u, s, d, c in rows]

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> float:
        """Every worker's endpoints are these from now on; the version that follows."""

        def work(db: sqlite3.Connection) -> float:
            db.execute("DELETE FROM webhook_endpoints")
            db.executemany(
                "INSERT INTO webhook_endpoints (id, url, secret, description, created_at) VALUES (?, ?, ?, ?, ?)",
                [(e.id, e.url, e.secret, e.description, e.created_at) for e in endpoints],
            )
            _set(db, CHANGED, 1)
            return _bump(db, VERSION)

        return self.state.transaction(work)

    def reset(self) -> tuple[int, float]:
        """A reset, for every worker: the configured endpoints again, the log and the counts emptied. Returns
        the new generation, and the version that follows."""

        def work(db: sqlite3.Connection) -> tuple[int, float]:
            for table in ("webhook_endpoints", "webhook_attempts", "webhook_counts"):
                db.execute(f"DELETE FROM {table}")
            _set(db, CHANGED, 0)
            _set(db, TOTAL, 0)
            version = _bump(db, VERSION)
            return _bump(db, GENERATION), version

        return self.state.transaction(work)

    def report(self, generation: int, worker: int, attempts: Sequence[tuple[Any, ...]], counts: Sequence[int]) -> None:
        """What ``worker``'s webhook process reported, in one transaction: ``attempts`` to log, and its counts;
        nothing, if a reset has come since (they belong to what it forgot)."""

        def work(db: sqlite3.Connection) -> None:
            if _get(db, GENERATION) != generation:
                return
            if attempts:
                rows = [(json.dumps(a),) for a in attempts]
                db.executemany("INSERT INTO webhook_attempts (attempt) VALUES (?)", rows)
                db.execute(
                    "DELETE FROM webhook_attempts WHERE seq <= (SELECT MAX(seq) FROM webhook_attempts) - ?",
                    (self.log_size,),
                )
                _bump(db, TOTAL, len(attempts))
            db.execute(
                "INSERT OR REPLACE INTO webhook_counts (worker, pending, events_dropped, queued, deliveries_dropped)"
                " VALUES (?, ?, ?, ?, ?)",
                (worker, *counts),
            )

        self.state.transaction(work)

    def leave(self, worker: int) -> None:
        """``worker`` stops: its counts no longer count."""
        self.state.write("DELETE FROM webhook_counts WHERE worker = ?", (worker,))

    def attempts(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        """The last ``limit`` attempts logged (every one kept, without it), oldest first."""
        if limit == 0:
            return []
        rows = self.state.execute(
            "SELECT attempt FROM (SELECT seq, attempt FROM webhook_attempts ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (-1 if limit is None else limit,),
        )
        return [tuple(json.loads(row[0])) for row in rows]

    def clear_log(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM webhook_attempts")
            _set(db, TOTAL, 0)

        self.state.transaction(work)

    def total(self) -> int:
        """Attempts logged since the log was last emptied (more than it keeps, after a while)."""
        return int(self.state.meta(TOTAL))

    def counts(self) -> tuple[int, int, int, int]:
        """Every worker's counts, added up."""
        row = self.state.execute(
            "SELECT TOTAL(pending), TOTAL(events_dropped), TOTAL(queued), TOTAL(deliveries_dropped) FROM webhook_counts"
        )[0]
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _get(db: sqlite3.Connection, key: str) -> float:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return float(row[0]) if row else 0.0


def _set(db: sqlite3.Connection, key: str, value: float) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?", (key, value, value)
    )


def _bump(db: sqlite3.Connection, key: str, by: int = 1) -> int:
    row = db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + ? RETURNING value",
        (key, by, by),
    ).fetchone()
    return int(row[0])
