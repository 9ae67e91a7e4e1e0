"""The webhooks' ledger in memory: resets counted, delivery attempts logged, the process's counts kept.

One worker's, when the mock keeps its state in memory; with a state file, every worker shares one
(:class:`mockserver.shared_webhooks.SharedLedger`, same methods). The endpoints themselves are the
worker's :class:`~mockserver.webhook_endpoints.Endpoints`: in memory, nothing else changes them, so
``version`` never moves and ``endpoints`` is never read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from mockserver.webhook_endpoints import Endpoint


class WebhookLedger:
    """Attempts logged (the last ``log_size``), the generation (a reset's number), and counts."""

    #: Whether other workers share it (and so change what :meth:`version` follows).
    shared = False

    def __init__(self, log_size: int) -> None:
        self.log_size = log_size
        self._log: deque[tuple[Any, ...]] = deque(maxlen=log_size)
        self._total = 0
        self._generation = 0
        self._counts = (0, 0, 0, 0)

    def version(self) -> float:
        """Moves when another worker changed the endpoints or the generation: never, in memory."""
        return 0.0

    def generation(self) -> int:
        return self._generation

    def endpoints(self) -> list[Endpoint] | None:
        """The endpoints another worker set; ``None``: none did."""
        return None

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> float:
        """The endpoints changed here (nothing to tell, in memory); the version that follows."""
        return self.version()

    def reset(self) -> tuple[int, float]:
        """Forget the log and the counts; the new generation, and the version that follows."""
        self._generation += 1
        self.clear_log()
        self._counts = (0, 0, 0, 0)
        return self._generation, self.version()

    def report(self, generation: int, worker: int, attempts: Sequence[tuple[Any, ...]], counts: Sequence[int]) -> None:
        """What ``worker``'s webhook process reported: ``attempts`` to log, and its counts (events pending
        and dropped, deliveries queued and dropped); nothing, if a reset has ended ``generation``."""
        if generation == self._generation:
            self._log.extend(attempts)
            self._total += len(attempts)
            pending, dropped, queued, deliveries_dropped = counts
            self._counts = (pending, dropped, queued, deliveries_dropped)

    def leave(self, worker: int) -> None:
        """``worker`` stops: its counts no longer count."""
        self._counts = (0, 0, 0, 0)

    def attempts(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        """The last ``limit`` attempts (every one kept, without it), oldest first."""
        log = list(self._log)
        return log if limit is None else (log[-limit:] if limit else [])

    def clear_log(self) -> None:
        self._log.clear()
        self._total = 0

    def total(self) -> int:
        """Attempts logged since the log was last emptied."""
        return self._total

    def counts(self) -> tuple[int, int, int, int]:
        return self._counts
