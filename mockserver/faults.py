"""Faults: what a scenario does to a request's answer, for the create and the poll alike.

A scenario (the ``X-Mock-Scenario`` header, a queued outcome, or a ``poll-<n>`` of the task) can
delay the answer, replace it with an error status, close the connection without one, lose it after
the task was made, or send its body slowly. The ``latency`` setting delays every request of an
operation. Random delays come from a generator seeded with ``MOCK_SEED``, so a seeded run repeats.
Each fault is written in the request's journal entry (``notes.fault``).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from mockserver.errors import ApiError, DropConnection, ErrorCatalog
from mockserver.frontdoor import Reply
from mockserver.journal import Notes
from mockserver.outcome_queue import OPERATIONS, OutcomeQueue, key_lane, poll_plan, task_lane
from mockserver.scenarios import DROP, Scenario, ScenarioParser, latencies

#: What an error status of a scenario says, by status.
REJECTIONS = {
    402: "Insufficient balance (simulated by the mock)",
    403: "Forbidden: this key may not use this model (simulated by the mock)",
    409: "Conflict: the task already exists (simulated by the mock)",
    423: "Locked: the account cannot create tasks now (simulated by the mock)",
    429: "Rate limit reached; retry after {retry_after} seconds (simulated by the mock)",
    451: "Unavailable for legal reasons (simulated by the mock)",
    500: "Internal error; retry later (simulated by the mock)",
    502: "Bad gateway: the upstream provider failed; retry later (simulated by the mock)",
    503: "Service unavailable; retry later (simulated by the mock)",
    504: "Gateway timeout: the upstream provider did not answer in time; retry later (simulated by the mock)",
}
RETRYING_STATUS = 429  # the one that carries Retry-After
#: What a poll can be made to answer; and what a lost answer can be.
POLL_STATUSES = (429, 500, 502, 503, 504)
LOST_STATUSES = (500, 502, 503, 504)
#: A trickled body goes out a piece every this many seconds (or one per byte, if it is shorter).
TRICKLE_GAP = 1.0


def scenario_parser(failure_codes: Mapping[int, Any]) -> ScenarioParser:
    """The parser of the statuses above and the spec's task error codes."""
    return ScenarioParser(
        failure_codes, tuple(REJECTIONS), RETRYING_STATUS, poll_statuses=POLL_STATUSES, lost_statuses=LOST_STATUSES
    )


class Faults:
    """Applies scenarios to answers. Built once per app.

    Args:
        queue: Where queued outcomes wait.
        parser: Reads queued outcomes (checked when they were queued).
        errors: Gives each error status its business code.
        latency: The ``latency`` setting.
        seed: Seeds the random delays.
    """

    def __init__(
        self, queue: OutcomeQueue, parser: ScenarioParser, errors: ErrorCatalog, latency: str | None, seed: int | None
    ) -> None:
        self.queue = queue
        self.parser = parser
        self.errors = errors
        self.latency = latencies(latency or "", OPERATIONS)
        self._random = random.Random(seed)
        #: Whether no outcome waits (as far as can be told without a look): asked on every request.
        self.idle = queue.idle

    def queued_create(self, authorization: bytes | None, notes: Notes) -> Scenario | None:
        """The outcome queued for this create (its key's lane first), or ``None``."""
        token = bearer_token(authorization)
        lanes = ("create",) if token is None else (key_lane("create", token), "create")
        text = self.queue.pop(lanes)
        if text is None:
            return None
        notes.scenario = f"queued: {text[:200]}"
        return self.parser.parse(text)

    def queued_poll(self, task_id: str, authorization: bytes | None, notes: Notes) -> Scenario | None:
        """The outcome of this poll: its task's next, else its key's, else the next queued for polls."""
        token = bearer_token(authorization)
        lanes = [task_lane(task_id), "poll"]
        if token is not None:
            lanes.insert(1, key_lane("poll", token))
        text = self.queue.pop(lanes)
        if text is None:
            return None
        notes.scenario = f"queued: {text[:200]}"
        return self.parser.parse_poll(text)

    def has_room_for(self, scenario: Scenario) -> bool:
        """Whether the outcomes of the polls ``scenario`` names can be queued (asked before the task is made)."""
        return self.queue.has_room(len(poll_plan(scenario.poll_faults)))

    def plan_polls(self, task_id: str, scenario: Scenario) -> None:
        """Queue the outcomes of the task's polls its scenario names (``poll-<n>``)."""
        if scenario.poll_faults:
            self.queue.push(task_lane(task_id), poll_plan(scenario.poll_faults))

    async def wait(self, operation: str, scenario: Scenario | None, notes: Notes) -> None:
        """Wait as the scenario (else the ``latency`` setting) says, before the answer."""
        span = scenario.delay if scenario is not None and scenario.delay is not None else self.latency.get(operation)
        if span is None:
            return
        low, high = span
        seconds = low if low == high else self._random.uniform(low, high)
        _note(notes, f"delayed {seconds:.3f} s")
        await asyncio.sleep(seconds)

    def refuse(self, operation: str, scenario: Scenario, notes: Notes) -> None:
        """Raise the answer that replaces a request's own: its error status, or no answer at all."""
        if scenario.drop:
            _note(notes, "dropped: the connection was closed with no answer")
            raise DropConnection
        if scenario.reject_status is not None:
            raise self.error(operation, scenario.reject_status, scenario.retry_after)

    def lose(self, operation: str, scenario: Scenario, notes: Notes) -> None:
        """Raise what replaces the answer of a request whose task was made (``lose-answer``), if anything."""
        lost = scenario.lose_answer
        if lost is None:
            return
        _note(notes, f"answer lost ({lost}) after the task was made")
        if lost == DROP:
            raise DropConnection
        raise self.error(operation, int(lost), None)

    def error(self, operation: str, status: int, retry_after: int | None) -> ApiError:
        detail = REJECTIONS[status].format(retry_after=retry_after)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return self.errors.error(status, detail, operation_id=operation, headers=headers)

    def deliver(self, reply: Reply, scenario: Scenario | None, notes: Notes) -> Reply:
        """``reply``, trickled out as the scenario says."""
        if scenario is None or scenario.trickle is None:
            return reply
        _note(notes, f"body trickled over {scenario.trickle:g} s")
        return Reply(reply.status, b"", stream=Trickle(reply, scenario.trickle))


class Trickle:
    """An ASGI app that sends a whole answer with its body in pieces, one every :data:`TRICKLE_GAP`
    seconds, the last after ``seconds``: a client's limit on the whole answer shorter than that fires,
    and a read timeout (a wait for the next bytes) under the gap. For a longer read timeout, ``delay``."""

    def __init__(self, reply: Reply, seconds: float) -> None:
        self.reply = reply
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply, body = self.reply, self.reply.body
        headers = [(b"content-type", reply.content_type), (b"content-length", b"%d" % len(body)), *reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        pieces = max(1, min(math.ceil(self.seconds / TRICKLE_GAP), len(body)))
        size = max(1, -(-len(body) // pieces))
        for number in range(pieces):
            await asyncio.sleep(self.seconds / pieces)
            piece = body[number * size : (number + 1) * size]
            await send({"type": "http.response.body", "body": piece, "more_body": number + 1 < pieces})


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` for any other header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _note(notes: Notes, fault: str) -> None:
    notes.fault = fault if notes.fault is None else f"{notes.fault}; {fault}"
