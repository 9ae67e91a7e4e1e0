"""The task budget: a run never has more than ``MAX_TASKS`` tasks accepted by the target.

Every create the run sends asks the budget first. Any create may be accepted, even one the
contract says must be rejected, so the budget refuses to send a create once the accepted count
has reached the cap: the count can never pass it. A create that got a 5xx or no answer counts as
accepted, since it may have made a task.
"""

from __future__ import annotations

import threading
from typing import Protocol


class BudgetExhausted(Exception):
    """The run may not send this create: it could pass the run's cap."""


class CreateGuard(Protocol):
    """What a :class:`~contract_tests.target.Target` asks before, and tells after, every create."""

    def before_create(self, content: bytes | None, *, meant_to_be_rejected: bool) -> None: ...

    def after_create(
        self, status: int, content: bytes | None, response_body: bytes, *, meant_to_be_rejected: bool
    ) -> None: ...


class TaskBudget:
    """Counts accepted creates against an optional cap."""

    def __init__(self, max_tasks: int | None) -> None:
        self.max_tasks = max_tasks
        self.accepted = 0
        self.unexpectedly_accepted = 0
        self.refused = 0
        self._lock = threading.Lock()

    def before_create(self, content: bytes | None = None, *, meant_to_be_rejected: bool = False) -> None:
        """Raise :class:`BudgetExhausted` if one more accepted task could pass the cap."""
        with self._lock:
            if self.max_tasks is not None and self.accepted >= self.max_tasks:
                self.refused += 1
                raise BudgetExhausted(
                    f"MAX_TASKS={self.max_tasks} reached: the run sends no more creates "
                    f"({self.accepted} tasks accepted so far)"
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
                if meant_to_be_rejected and 200 <= status < 300:
                    self.unexpectedly_accepted += 1

    @property
    def exhausted(self) -> bool:
        return self.refused > 0
