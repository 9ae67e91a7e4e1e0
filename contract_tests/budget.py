"""The task budget: a run never has more than ``MAX_TASKS`` tasks accepted by the target, and each
part of the run never more than its share of them (see :mod:`contract_tests.task_plan`).

Every create the run sends asks the budget first. Any create may be accepted, even one the
contract says must be rejected, so the budget refuses to send a create once the accepted count
has reached the cap, or the share of the part sending it: no count can pass its limit. A create
that got a 5xx or no answer counts as accepted, since it may have made a task.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

_SHARE: ContextVar[str | None] = ContextVar("share", default=None)


class BudgetExhausted(Exception):
    """The run may not send this create: it could pass the run's cap, or the share of its part."""


class CreateGuard(Protocol):
    """What a :class:`~contract_tests.target.Target` asks before, and tells after, every create."""

    def before_create(self, content: bytes | None, *, meant_to_be_rejected: bool) -> None: ...

    def after_create(
        self, status: int, content: bytes | None, response_body: bytes, *, meant_to_be_rejected: bool
    ) -> None: ...


@contextmanager
def drawing_from(share: str | None) -> Iterator[None]:
    """Count the creates sent inside the block against ``share`` (a key of the plan's shares)."""
    token = _SHARE.set(share)
    try:
        yield
    finally:
        _SHARE.reset(token)


def current_share() -> str | None:
    """The share the creates sent now count against (``None``: only the cap)."""
    return _SHARE.get()


class TaskBudget:
    """Counts accepted creates against an optional cap, and against the share of the part sending them.

    Args:
        max_tasks: The run's cap, ``None`` for none.
        shares: How many tasks each part of the run may have accepted; a create sent outside any
            share (or with no shares) is held to the cap only.
    """

    def __init__(self, max_tasks: int | None, shares: Mapping[str, int] | None = None) -> None:
        self.max_tasks = max_tasks
        self.shares = dict(shares or {})
        self.accepted = 0
        self.unexpectedly_accepted = 0
        self.refused = 0
        self.by_share: Counter[str] = Counter()
        self.refused_by_share: Counter[str] = Counter()
        self._lock = threading.Lock()

    def before_create(self, content: bytes | None = None, *, meant_to_be_rejected: bool = False) -> None:
        """Raise :class:`BudgetExhausted` if one more accepted task could pass the cap or the share."""
        share = current_share()
        with self._lock:
            if self.max_tasks is not None and self.accepted >= self.max_tasks:
                self.refused += 1
                self.refused_by_share[share or ""] += 1
                raise BudgetExhausted(
                    f"MAX_TASKS={self.max_tasks} reached: the run sends no more creates "
                    f"({self.accepted} tasks accepted so far)"
                )
            if share is not None and share in self.shares and self.by_share[share] >= self.shares[share]:
                self.refused += 1
                self.refused_by_share[share] += 1
                cap = "" if self.max_tasks is None else f" of MAX_TASKS={self.max_tasks}"
                raise BudgetExhausted(
                    f"the share of {share} ({self.shares[share]} tasks{cap}) is used: "
                    "its creates stop here, so that the other parts of the run keep theirs"
                )

    def after_create(
        self,
        status: int,
        content: bytes | None = None,
        response_body: bytes = b"",
        *,
        meant_to_be_rejected: bool = False,
    ) -> None:
        """Count the answer to a create: a 2xx means the target accepted (and may bill) a task.

        A 5xx, or no answer (``status`` 0), may also have made one, so it counts as accepted too:
        the cap holds whatever the target did.
        """
        if 200 <= status < 300 or status == 0 or status >= 500:
            with self._lock:
                self.accepted += 1
                self.by_share[current_share() or ""] += 1
                if meant_to_be_rejected and 200 <= status < 300:
                    self.unexpectedly_accepted += 1
