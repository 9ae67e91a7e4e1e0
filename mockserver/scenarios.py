"""Scenarios: what a create asks the mock to do, through the ``X-Mock-Scenario`` header, and what
the outcomes queued for the next creates and polls say (:mod:`mockserver.outcome_queue`).

Grammar: ``;``-separated items, each ``key=value`` or a bare word, case-insensitive (the statuses each
operation can be made to answer, and which of them takes a retry delay, are the HTTP layer's to say).
A create names one outcome::

    succeed                         the default: the task runs and succeeds
    fail=3001                       the task fails with a documented code, while running
    fail=4008; stage=queued         ... or straight from the queue
    stall                           the task never leaves running (to test a client's timeout)
    status=503                      the create itself answers 503 (402, 403, 409, 423, 429, 451,
                                    500, 502, 503 or 504): no task is made
    status=429; retry-after=7       ... 429 with Retry-After: 7 (default 5)
    drop                            the connection is closed with no answer: no task is made

and, with succeed, fail or stall, what happens after the task is made::

    lose-answer=drop                the task is made, then the connection closes with no answer
    lose-answer=503                 ... or a 5xx answers (500, 502, 503 or 504): a client that
                                    retries makes a second task, and pays twice
    poll-2=503                      this task's 2nd poll answers 503 (429, 500, 502, 503, 504 or
                                    drop; n from 1 to 100; several may be given)

and, with any of them::

    balance-low                     a ``balance.low`` webhook goes out too (as the API sends one when
                                    a balance falls below its threshold)

and how the answer comes::

    delay=2.5                       wait 2.5 s before answering
    delay=1-3                       ... a time between 1 and 3 s (repeatable under MOCK_SEED)
    trickle=10                      the answer's body trickles out over 10 s

A poll's outcome (queued, or ``poll-<n>`` of its task) is ``ok``, ``status=<code>[; retry-after=<s>]``
or ``drop``, with ``delay`` and ``trickle`` as above. Anything else is refused with a message that says
what is allowed, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mockserver.tasks import Failure, Phase

DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 3600
#: The longest ``delay`` and ``trickle``, in seconds: past any client's timeout (the official one's is 120 s).
MAX_WAIT_SECONDS = 600.0
#: The highest ``n`` of ``poll-<n>``.
MAX_POLL_NUMBER = 100
DROP = "drop"
_ANSWER_ITEMS = {"status", "retry-after", "drop", "delay", "trickle"}  # how a create or a poll is answered
_CREATE_ITEMS = {"succeed", "stall", "fail", "stage", "lose-answer", "balance-low", *_ANSWER_ITEMS}
_POLL_ITEMS = {"ok", *_ANSWER_ITEMS}
_POLL_ITEM = re.compile(r"poll-(\d{1,3})")
_SECONDS = re.compile(r"\d{1,4}(\.\d{1,3})?")


class ScenarioError(ValueError):
    """The scenario text cannot be honoured. The message says why and what is allowed."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to do with one request (a create; or a poll, which uses only the answer's fields).

    Attributes:
        reject_status: Answer this status instead (no task is made).
        retry_after: The ``Retry-After`` of that answer.
        failure: How the task fails, if it does.
        stall: The task never leaves running.
        drop: Close the connection with no answer (no task is made).
        lose_answer: The task is made, then its answer is lost: ``"drop"`` or a 5xx status.
        delay: Wait a time in this range (seconds) before answering.
        trickle: Send the answer's body over this many seconds.
        poll_faults: For a create: ``(n, outcome)``, the outcome of the task's n-th poll, in the poll grammar.
        balance_low: For a create: send a ``balance.low`` webhook.
    """

    reject_status: int | None = None
    retry_after: int | None = None
    failure: Failure | None = None
    stall: bool = False
    drop: bool = False
    lose_answer: str | None = None
    delay: tuple[float, float] | None = None
    trickle: float | None = None
    poll_faults: tuple[tuple[int, str], ...] = ()
    balance_low: bool = False

    @property
    def answers(self) -> bool:
        """Whether the request is answered as usual (no status of its own, no drop)."""
        return self.reject_status is None and not self.drop


SUCCEED = Scenario()
OK = Scenario()  # a poll answered as usual


@dataclass(frozen=True, slots=True)
class FailureReason:
    """A documented task error code, as the spec describes it."""

    title: str
    description: str


class ScenarioParser:
    """Parses scenario texts against the error codes the spec documents.

    Args:
        failure_codes: The documented task error codes, each with its reason.
        reject_statuses: The statuses a create's ``status=`` may name.
        retrying_status: The one status that takes ``retry-after``.
        poll_statuses: The statuses a poll can be made to answer.
        lost_statuses: The statuses ``lose-answer=`` may name.
    """

    def __init__(
        self,
        failure_codes: Mapping[int, FailureReason],
        reject_statuses: Sequence[int],
        retrying_status: int,
        *,
        poll_statuses: Sequence[int] = (),
        lost_statuses: Sequence[int] = (),
    ) -> None:
        if not failure_codes:
            raise ValueError("the spec documents no task error codes")
        if retrying_status not in reject_statuses:
            raise ValueError(f"the retrying status {retrying_status} must be one of {reject_statuses}")
        self.failure_codes = dict(failure_codes)
        self.reject_statuses = tuple(reject_statuses)
        self.retrying_status = retrying_status
        self.poll_statuses = tuple(poll_statuses)
        self.lost_statuses = tuple(lost_statuses)
        waits = "'delay=<seconds>[-<seconds>]', 'trickle=<seconds>'"
        self._usage = (
            f"expected 'succeed', 'stall', 'fail=<code>[; stage=queued|running]' with a code in "
            f"{', '.join(map(str, sorted(self.failure_codes)))}, "
            f"'status=<{'|'.join(map(str, self.reject_statuses))}>[; retry-after=<seconds>]' or 'drop'; "
            f"with a task, 'lose-answer=drop|{'|'.join(map(str, self.lost_statuses))}' and "
            f"'poll-<n>=drop|{'|'.join(map(str, self.poll_statuses))}'; with any, 'balance-low', {waits}"
        )
        self._poll_usage = (
            f"expected 'ok', 'status=<{'|'.join(map(str, self.poll_statuses))}>[; retry-after=<seconds>]' or"
            f" 'drop', with {waits}"
        )

    def parse(self, text: str) -> Scenario:
        """Turn a create's scenario text into a :class:`Scenario`, or raise :class:`ScenarioError`."""
        items = self._items(text, self._usage)
        polls = {key: value for key, value in items.items() if _POLL_ITEM.fullmatch(key)}
        flags = ("succeed", "stall", "drop", "balance-low")
        self._check_items(text, items, _CREATE_ITEMS | set(polls), flags, self._usage)
        if "stage" in items and "fail" not in items:
            raise self._error(text, "'stage' only goes with 'fail'")
        outcomes = [k for k in ("succeed", "stall", "fail", "status", "drop") if k in items]
        if len(outcomes) > 1:
            raise self._error(text, "it must name at most one of succeed, stall, fail, status or drop")
        if ("lose-answer" in items or polls) and outcomes and outcomes[0] in ("status", "drop"):
            raise self._error(text, "'lose-answer' and 'poll-<n>' only go with a task: succeed, fail or stall")
        delay, trickle = self._waits(text, items, self._usage)
        if "status" in items:
            status, retry_after = self._status(text, items, self.reject_statuses, self._usage)
            low = "balance-low" in items
            return Scenario(
                reject_status=status, retry_after=retry_after, delay=delay, trickle=trickle, balance_low=low
            )
        if "drop" in items:
            return Scenario(drop=True, delay=delay, balance_low="balance-low" in items)
        failure = self._failure(text, items["fail"], items.get("stage")) if "fail" in items else None
        return Scenario(
            failure=failure,
            stall="stall" in items,
            lose_answer=self._lost(text, items.get("lose-answer", "")) if "lose-answer" in items else None,
            delay=delay,
            trickle=trickle,
            poll_faults=tuple(sorted(self._poll_fault(text, key, value) for key, value in polls.items())),
            balance_low="balance-low" in items,
        )

    def parse_poll(self, text: str) -> Scenario:
        """Turn a poll's outcome text into a :class:`Scenario` (its answer's fields only), or raise
        :class:`ScenarioError`."""
        items = self._items(text, self._poll_usage)
        self._check_items(text, items, _POLL_ITEMS, ("ok", "drop"), self._poll_usage)
        if len([k for k in ("ok", "status", "drop") if k in items]) > 1:
            raise self._error(text, "it must name at most one of ok, status or drop", self._poll_usage)
        delay, trickle = self._waits(text, items, self._poll_usage)
        if "status" in items:
            status, retry_after = self._status(text, items, self.poll_statuses, self._poll_usage)
            return Scenario(reject_status=status, retry_after=retry_after, delay=delay, trickle=trickle)
        return Scenario(drop="drop" in items, delay=delay, trickle=trickle)

    def _items(self, text: str, usage: str) -> dict[str, str | None]:
        items: dict[str, str | None] = {}
        for raw in text.replace(",", ";").split(";"):
            item = raw.strip().lower()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if key in items:
                raise self._error(text, f"'{key}' is given twice", usage)
            items[key] = value.strip() if sep else None
        if not items:
            raise self._error(text, "it is empty", usage)
        return items

    def _check_items(
        self, text: str, items: Mapping[str, str | None], known: set[str], flags: Sequence[str], usage: str
    ) -> None:
        unknown = set(items) - known
        if unknown:
            raise self._error(text, f"unknown item {sorted(unknown)[0]!r}", usage)
        for flag in flags:
            if flag in items and items[flag] is not None:
                raise self._error(text, f"'{flag}' takes no value", usage)
        if "retry-after" in items and items.get("status") != str(self.retrying_status):
            raise self._error(text, f"'retry-after' only goes with 'status={self.retrying_status}'", usage)

    def _status(
        self, text: str, items: Mapping[str, str | None], allowed: Sequence[int], usage: str
    ) -> tuple[int, int | None]:
        status = _integer(items["status"])
        if status is None or status not in allowed:
            raise self._error(text, f"status must be one of {', '.join(map(str, allowed))}", usage)
        if status != self.retrying_status:
            return status, None
        raw_retry = items.get("retry-after")
        retry_after = DEFAULT_RETRY_AFTER if raw_retry is None else _integer(raw_retry)
        if retry_after is None or not 0 <= retry_after <= MAX_RETRY_AFTER:
            raise self._error(text, f"retry-after must be a whole number of seconds, 0 to {MAX_RETRY_AFTER}", usage)
        return status, retry_after

    def _waits(
        self, text: str, items: Mapping[str, str | None], usage: str
    ) -> tuple[tuple[float, float] | None, float | None]:
        delay = trickle = None
        if "delay" in items:
            low, sep, high = (items["delay"] or "").partition("-")
            first, last = _seconds(low), _seconds(high if sep else low)
            if first is None or last is None or first > last:
                raise self._error(text, f"delay must be seconds or a range of them, 0 to {MAX_WAIT_SECONDS:g}", usage)
            delay = (first, last)
        if "trickle" in items:
            if "drop" in items:
                raise self._error(text, "'trickle' does not go with 'drop': nothing is sent", usage)
            trickle = _seconds(items["trickle"] or "")
            if not trickle:
                raise self._error(text, f"trickle must be seconds, more than 0 and at most {MAX_WAIT_SECONDS:g}", usage)
        return delay, trickle

    def _lost(self, text: str, raw: str | None) -> str:
        if raw == DROP or _integer(raw) in self.lost_statuses:
            return str(raw)
        allowed = "|".join([DROP, *map(str, self.lost_statuses)])
        raise self._error(text, f"lose-answer must be one of {allowed}")

    def _poll_fault(self, text: str, key: str, raw: str | None) -> tuple[int, str]:
        number = int(key.removeprefix("poll-"))
        if not 1 <= number <= MAX_POLL_NUMBER:
            raise self._error(text, f"the n of '{key}' must be 1 to {MAX_POLL_NUMBER}")
        if raw == DROP:
            return number, DROP
        status = _integer(raw)
        if status is None or status not in self.poll_statuses:
            allowed = "|".join([DROP, *map(str, self.poll_statuses)])
            raise self._error(text, f"'{key}' must be one of {allowed}")
        return number, f"status={status}"

    def _failure(self, text: str, raw_code: str | None, raw_stage: str | None) -> Failure:
        code = _integer(raw_code)
        if code not in self.failure_codes:
            raise self._error(text, f"{raw_code!r} is not a documented task error code")
        stages = {"queued": Phase.QUEUED, "running": Phase.RUNNING}
        if raw_stage is not None and raw_stage not in stages:
            raise self._error(text, "stage must be queued or running")
        reason = self.failure_codes[code]
        return Failure(
            code=code,
            title=reason.title,
            detail=f"{reason.description.rstrip('.')} (failure {code} simulated by the mock)",
            stage=stages[raw_stage or "running"],
        )

    def _error(self, text: str, why: str, usage: str | None = None) -> ScenarioError:
        shown = text if len(text) <= 80 else text[:77] + "..."
        return ScenarioError(f"cannot use {shown!r}: {why}; {usage or self._usage}")


def latencies(text: str, operations: Sequence[str]) -> dict[str, tuple[float, float]]:
    """The delays of a ``latency`` setting: ``create=0.5,poll=0.1-0.3``, ``all=0.2`` or just ``0.2``
    (every operation), each as ``delay=`` takes it; :class:`ScenarioError` if it cannot be read."""
    found: dict[str, tuple[float, float]] = {}
    for raw in text.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        name, sep, value = item.rpartition("=") if "=" in item else ("all", "=", item)
        low, dash, high = value.partition("-")
        first, last = _seconds(low), _seconds(high if dash else low)
        if not sep or first is None or last is None or first > last:
            raise ScenarioError(
                f"cannot read {item!r}: expected <operation>=<seconds>[-<seconds>], 0 to {MAX_WAIT_SECONDS:g}"
            )
        names = operations if name == "all" else (name,)
        if name != "all" and name not in operations:
            raise ScenarioError(f"cannot read {item!r}: the operations are {', '.join(operations)} (or all)")
        found.update(dict.fromkeys(names, (first, last)))
    return found


def _integer(raw: str | None) -> int | None:
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return None
    return int(raw)


def _seconds(raw: str | None) -> float | None:
    """Seconds written as ``2`` or ``2.5``, at most :data:`MAX_WAIT_SECONDS`; else ``None``."""
    if raw is None or not _SECONDS.fullmatch(raw.strip()):
        return None
    seconds = float(raw)
    return seconds if seconds <= MAX_WAIT_SECONDS else None
