"""The spend guard: what a create would cost, what the run may spend, and a record of every task it paid for.

Rules (README, *Live runs*):

- A generation the run means to pay for is sent only if its cost fits in what is left of
  ``ALLOW_SPEND`` (and within ``ALLOW_TASKS``, when set). Otherwise the run skips it, before sending.
- A request the contract says must be rejected is expected to cost nothing, so it is sent even
  with nothing to spend, as long as nothing has been charged yet or its worst-case cost still fits
  in what is left. If the target wrongly accepts it, its cost is charged, the violation is
  reported, and the run sends no more creates of that kind (``MAX_ACCIDENTS``, default one).
- Every accepted create is written to the audit log at once, with its task id and cost.

So a run costs at most ``ALLOW_SPEND``, or the price of one wrongly accepted request when that is
more, whatever the order of its requests. (The plan sends the free ones first anyway, so an
accident leaves less for paid generations, rather than a paid generation leaving no room.)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from contract_tests.budget import BudgetExhausted
from contract_tests.target import CREATE_OPERATION
from mockserver.spec import ApiSpec


@dataclass(frozen=True, slots=True)
class CostModel:
    """Dollars per second of output video, times the seconds a create asks for.

    A duration the spec does not allow is priced as the longest one it does: the worst case.
    """

    price_per_second: float
    durations: tuple[int, ...]
    default_duration: int

    @classmethod
    def from_spec(cls, spec: ApiSpec, price_per_second: float) -> CostModel:
        schema = spec.resolve(spec.request_schema(CREATE_OPERATION)["properties"]["duration"])
        durations = tuple(int(d) for d in schema["enum"])
        return cls(price_per_second, durations, int(schema.get("default", min(durations))))

    def seconds(self, content: bytes | None) -> int:
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or "duration" not in body:
            return self.default_duration
        duration = body["duration"]
        valid = isinstance(duration, int | float) and not isinstance(duration, bool) and duration in self.durations
        return int(duration) if valid else max(self.durations)

    def cost(self, content: bytes | None) -> float:
        return round(self.price_per_second * self.seconds(content), 6)


class AuditLog:
    """One JSON line per accepted create, written and flushed at once, so that a crash keeps it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **entry: Any) -> None:
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class SpendGuard:
    """The live run's guard of every create (see the module's rules)."""

    def __init__(
        self,
        cap: float,
        cost: CostModel,
        *,
        max_tasks: int | None = None,
        audit: AuditLog | None = None,
        max_accidents: int = 1,
    ) -> None:
        self.cap = cap
        self.cost = cost
        self.max_tasks = max_tasks
        self.audit = audit
        self.max_accidents = max_accidents
        self.spent = 0.0
        self.tasks = 0
        self.paid_tasks = 0
        self.accidents = 0
        self.refused: list[str] = []
        self.probe = ""  # the runner says which probe is sending, for the audit log
        self._lock = threading.Lock()

    @property
    def left(self) -> float:
        return max(0.0, self.cap - self.spent)

    def before_create(self, content: bytes | None, *, meant_to_be_rejected: bool) -> None:
        with self._lock:
            price = self.cost.cost(content)
            if meant_to_be_rejected:
                if self.accidents >= self.max_accidents:
                    self._refuse("a request that must be rejected was accepted already; the run sends no more of them")
                if self.spent > 0 and self.spent + price > self.cap + 1e-9:
                    self._refuse(f"if wrongly accepted it would cost ${price:.2f}, more than the ${self.left:.2f} left")
                return
            if self.max_tasks is not None and self.paid_tasks >= self.max_tasks:
                self._refuse(f"ALLOW_TASKS={self.max_tasks} paid generations were made already")
            if self.spent + price > self.cap + 1e-9:
                left = f"${self.left:.2f} of ALLOW_SPEND=${self.cap:.2f}"
                self._refuse(f"this generation would cost ${price:.2f}, and {left} is left")

    def after_create(
        self, status: int, content: bytes | None, response_body: bytes, *, meant_to_be_rejected: bool
    ) -> None:
        if not 200 <= status < 300:
            return
        charge = self.cost.cost(content)
        with self._lock:
            self.spent = round(self.spent + charge, 6)
            self.tasks += 1
            if meant_to_be_rejected:
                self.accidents += 1
            else:
                self.paid_tasks += 1
        if self.audit is not None:
            self.audit.write(
                task_id=_task_id(response_body),
                probe=self.probe,
                cost_usd=charge,
                seconds=self.cost.seconds(content),
                meant_to_be_rejected=meant_to_be_rejected,
                status=status,
                spent_usd=self.spent,
            )

    def _refuse(self, why: str) -> None:
        self.refused.append(why)
        raise BudgetExhausted(why)


def _task_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    info = value.get("task_info") if isinstance(value, dict) else None
    return str(info["id"]) if isinstance(info, dict) and "id" in info else None
