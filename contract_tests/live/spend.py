"""The spend guard: what a create would cost, what the run may spend, and a record of every task it paid for.

Rules (README, *Live runs*):

- A generation the run means to pay for is sent only if its cost fits in what is left of
  ``ALLOW_SPEND`` (and within ``ALLOW_TASKS``, when set). Otherwise the run skips it, before sending.
- A request the contract says must be rejected is expected to cost nothing, so it is sent even
  with nothing to spend, as long as nothing has been charged yet or its worst-case cost still fits
  in what is left. If the target wrongly accepts it, its cost is charged, the violation is
  reported, and the run sends no more creates of that kind (``MAX_ACCIDENTS``, default one).
- A create's worst-case cost is charged before it is sent, and given back only when the target
  refuses it (a 4xx). A 5xx, or no answer at all, leaves it charged: the task may exist and be
  billed, so the run counts it, and the audit log records it as ``unknown``.
- Every accepted create is written to the audit log at once, with its task id and cost.

So a run costs at most ``ALLOW_SPEND``, or the price of one wrongly accepted request when that is
more, whatever the order of its requests. (The plan sends the free ones first anyway, so an
accident leaves less for paid generations, rather than a paid generation leaving no room.)
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from contract_tests.budget import BudgetExhausted
from contract_tests.target import CREATE_OPERATION
from sparkspec.openapi import ApiSpec


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
    """The live run's guard of every create (see the module's rules).

    A create's worst-case price is charged before it is sent. A refusal (any 4xx, 429 included)
    gives it back; an acceptance keeps it; an answer that does not say (a 5xx, or none at all) keeps
    it too, because the task may exist and be billed: the audit log marks it ``unknown``.
    """

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
        self.spent = 0.0  # charged, including creates in flight and creates whose outcome is unknown
        self.tasks = 0
        self.paid_tasks = 0
        self.accidents = 0
        self.unknown = 0
        self.refused: list[str] = []
        self.probe = ""  # the runner says which probe is sending, for the audit log
        self._in_flight = {True: 0, False: 0}  # by meant_to_be_rejected
        self._unknown_rejects = 0  # must-reject creates that may have been accepted: MAX_ACCIDENTS counts them
        self._lock = threading.Lock()

    @property
    def left(self) -> float:
        return max(0.0, self.cap - self.spent)

    def before_create(self, content: bytes | None, *, meant_to_be_rejected: bool) -> None:
        with self._lock:
            price = self.cost.cost(content)
            if meant_to_be_rejected:
                if self.accidents + self._unknown_rejects + self._in_flight[True] >= self.max_accidents:
                    self._refuse(
                        f"MAX_ACCIDENTS={self.max_accidents}: a request that must be rejected was accepted "
                        "(or got a 5xx or no answer) already; the run sends no more of them"
                    )
                if self.spent > 0 and self.spent + price > self.cap + 1e-9:
                    self._refuse(
                        f"if wrongly accepted it would cost ${price:.2f}, more than the ${self.left:.2f} left"
                        + self._held()
                    )
            else:
                if self.max_tasks is not None and self.paid_tasks + self._in_flight[False] >= self.max_tasks:
                    self._refuse(f"ALLOW_TASKS={self.max_tasks} paid generations were made already")
                if self.spent + price > self.cap + 1e-9:
                    left = f"${self.left:.2f} of ALLOW_SPEND={dollars(self.cap)}"
                    self._refuse(f"this generation would cost ${price:.2f}, and {left} is left" + self._held())
            self._in_flight[meant_to_be_rejected] += 1
            self.spent = round(self.spent + price, 6)

    def after_create(
        self, status: int, content: bytes | None, response_body: bytes, *, meant_to_be_rejected: bool
    ) -> None:
        """Settle a create sent after :meth:`before_create`; ``status`` 0 means no answer came."""
        charge = self.cost.cost(content)
        accepted = 200 <= status < 300
        refused = 400 <= status < 500
        with self._lock:
            self._in_flight[meant_to_be_rejected] -= 1
            if refused:
                self.spent = round(max(0.0, self.spent - charge), 6)
                return
            if accepted:
                self.tasks += 1
                if meant_to_be_rejected:
                    self.accidents += 1
            else:
                self.unknown += 1
                self._unknown_rejects += meant_to_be_rejected
            if not meant_to_be_rejected:
                self.paid_tasks += 1  # an unknown outcome may be a task, so it counts against ALLOW_TASKS
            spent = self.spent
        if self.audit is not None:
            self.audit.write(
                task_id=_task_id(response_body) if accepted else None,
                outcome="accepted" if accepted else "unknown",
                probe=self.probe,
                cost_usd=charge,
                seconds=self.cost.seconds(content),
                meant_to_be_rejected=meant_to_be_rejected,
                status=status,
                spent_usd=spent,
            )

    def _held(self) -> str:
        if not self.unknown:
            return ""
        return f" (this counts {self.unknown} create(s) that got a 5xx or no answer, which may have been billed)"

    def _refuse(self, why: str) -> None:
        self.refused.append(why)
        raise BudgetExhausted(why)


@dataclass(frozen=True, slots=True)
class SpendBound:
    """What a plan may cost under a guard, worked out before anything is sent.

    Attributes:
        planned: The paid generations that fit, if every must-reject request is refused.
        paid: How many those are.
        worst_accident: The dearest must-reject request, charged if the target wrongly accepts it.
        worst_total: The most the run can spend whatever the target answers: the guard never lets
            the total pass ``max(cap, worst_accident)``, and it is never more than every paid
            generation the task limit allows plus ``max_accidents`` accidents.
    """

    planned: float
    paid: int
    worst_accident: float
    worst_total: float

    @classmethod
    def of(
        cls,
        paid_prices: list[float],
        reject_prices: list[float],
        *,
        cap: float,
        max_tasks: int | None,
        max_accidents: int,
    ) -> SpendBound:
        planned, paid = 0.0, 0
        for price in paid_prices:  # the guard's own rule, in plan order, with every accident avoided
            if price <= cap - planned + 1e-9 and (max_tasks is None or paid < max_tasks):
                planned, paid = planned + price, paid + 1
        worst_accident = max(reject_prices, default=0.0)
        allowed = sorted(paid_prices, reverse=True)[: len(paid_prices) if max_tasks is None else max_tasks]
        every_paid = sum(allowed)
        accidents = min(max_accidents, len(reject_prices)) * worst_accident
        worst = min(max(cap, worst_accident if max_accidents else 0.0), every_paid + accidents)
        return cls(round(planned, 6), paid, worst_accident, round(max(worst, planned), 6))


def dollars(amount: float) -> str:
    """An amount for people; an infinite cap is no cap."""
    return "no limit" if math.isinf(amount) else f"${amount:.2f}"


def _task_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    info = value.get("task_info") if isinstance(value, dict) else None
    return str(info["id"]) if isinstance(info, dict) and "id" in info else None
