"""Scenarios: what a create asks the mock to do, through the ``X-Mock-Scenario`` header.

Grammar: ``;``-separated items, each ``key=value`` or a bare word, case-insensitive (the statuses a
create can be made to answer, and which of them takes a retry delay, are the HTTP layer's to say)::

    succeed                         the default: the task runs and succeeds
    fail=3001                       the task fails with a documented code, while running
    fail=4008; stage=queued         ... or straight from the queue
    stall                           the task never leaves running (to test a client's timeout)
    status=402 | status=500         the create itself answers 402 or 500
    status=429; retry-after=7       the create answers 429 with Retry-After: 7 (default 5)

Anything else is refused with a message that says what is allowed, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mockserver.tasks import Failure, Phase

DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 3600


class ScenarioError(ValueError):
    """The scenario text cannot be honoured. The message says why and what is allowed."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to do with one create."""

    reject_status: int | None = None
    retry_after: int | None = None
    failure: Failure | None = None
    stall: bool = False


SUCCEED = Scenario()


@dataclass(frozen=True, slots=True)
class FailureReason:
    """A documented task error code, as the spec describes it."""

    title: str
    description: str


class ScenarioParser:
    """Parses scenario texts against the error codes the spec documents.

    Args:
        failure_codes: The documented task error codes, each with its reason.
        reject_statuses: The statuses ``status=`` may name.
        retrying_status: The one of them that takes ``retry-after``.
    """

    def __init__(
        self, failure_codes: Mapping[int, FailureReason], reject_statuses: Sequence[int], retrying_status: int
    ) -> None:
        if not failure_codes:
            raise ValueError("the spec documents no task error codes")
        if retrying_status not in reject_statuses:
            raise ValueError(f"the retrying status {retrying_status} must be one of {reject_statuses}")
        self.failure_codes = dict(failure_codes)
        self.reject_statuses = tuple(reject_statuses)
        self.retrying_status = retrying_status
        self._usage = (
            f"expected 'succeed', 'stall', 'fail=<code>[; stage=queued|running]' with a code in "
            f"{', '.join(map(str, sorted(self.failure_codes)))}, or "
            f"'status=<{'|'.join(map(str, self.reject_statuses))}>[; retry-after=<seconds>]'"
        )

    def parse(self, text: str) -> Scenario:
        """Turn a header value into a :class:`Scenario`, or raise :class:`ScenarioError`."""
        items: dict[str, str | None] = {}
        for raw in text.replace(",", ";").split(";"):
            item = raw.strip().lower()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if key in items:
                raise self._error(text, f"'{key}' is given twice")
            items[key] = value.strip() if sep else None
        if not items:
            raise self._error(text, "it is empty")
        unknown = set(items) - {"succeed", "stall", "fail", "stage", "status", "retry-after"}
        if unknown:
            raise self._error(text, f"unknown item {sorted(unknown)[0]!r}")
        for flag in ("succeed", "stall"):
            if flag in items and items[flag] is not None:
                raise self._error(text, f"'{flag}' takes no value")
        if "stage" in items and "fail" not in items:
            raise self._error(text, "'stage' only goes with 'fail'")
        if "retry-after" in items and items.get("status") != str(self.retrying_status):
            raise self._error(text, f"'retry-after' only goes with 'status={self.retrying_status}'")
        outcomes = [k for k in ("succeed", "stall", "fail", "status") if k in items]
        if len(outcomes) != 1:
            raise self._error(text, "it must name exactly one of succeed, stall, fail or status")

        if "stall" in items:
            return Scenario(stall=True)
        if "fail" in items:
            return Scenario(failure=self._failure(text, items["fail"], items.get("stage")))
        if "status" in items:
            status = _integer(items["status"])
            if status not in self.reject_statuses:
                raise self._error(text, f"status must be one of {', '.join(map(str, self.reject_statuses))}")
            retry_after = None
            if status == self.retrying_status:
                raw_retry = items.get("retry-after")
                retry_after = DEFAULT_RETRY_AFTER if raw_retry is None else _integer(raw_retry)
                if retry_after is None or not 0 <= retry_after <= MAX_RETRY_AFTER:
                    raise self._error(text, f"retry-after must be a whole number of seconds, 0 to {MAX_RETRY_AFTER}")
            return Scenario(reject_status=status, retry_after=retry_after)
        return SUCCEED

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

    def _error(self, text: str, why: str) -> ScenarioError:
        shown = text if len(text) <= 80 else text[:77] + "..."
        return ScenarioError(f"cannot use {shown!r}: {why}; {self._usage}")


def _integer(raw: str | None) -> int | None:
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return None
    return int(raw)
