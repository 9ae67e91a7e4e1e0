"""The admin API, under ``/__mock`` (a prefix the real API cannot have): state, clock, journal, spec.

GET    /__mock/health              liveness, and how many tasks are stored
POST   /__mock/reset               forget every task and request; the clock returns to real time
GET    /__mock/clock               the mock's time, and how far it was advanced
POST   /__mock/clock/advance       {"seconds": 90} moves the clock forwards
GET    /__mock/requests?limit=N    the journal, oldest first
DELETE /__mock/requests            empty the journal
GET    /__mock/tasks?limit=N       stored tasks with their current state and timeline
GET    /__mock/tasks/{task_id}     one of them
POST   /__mock/scenarios           {"operation": "create" | "poll", "outcomes": ["status=503", ...]} queues
                                   outcomes for the next valid creates sent without X-Mock-Scenario,
                                   or the next polls; with "api_key": only for requests with that key
GET    /__mock/scenarios           what is queued
DELETE /__mock/scenarios           empty the queue (a reset does too)
GET    /__mock/openapi.json        the spec, whose only server is this mock as the client reached it
GET    /__mock/openapi.yaml        the same, as YAML

The webhook routes, under /__mock/webhooks, are in webhook_admin.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from starlette.datastructures import QueryParams

from mockserver.bodies import BodyTooLarge, MalformedBody, parse_json, read_limited
from mockserver.clock import timestamp
from mockserver.errors import ApiError
from mockserver.frontdoor import Call, Reply, Route, base_url
from mockserver.journal import Journal
from mockserver.outcome_queue import OutcomeQueue, enqueue
from mockserver.presenter import Presenter, video_path
from mockserver.scenarios import ScenarioParser
from mockserver.task_service import TaskService
from mockserver.tasks import Task
from mockserver.webhooks import WebhookService
from sparkspec.openapi import SAFE_DUMPER

ADMIN_PREFIX = "/__mock"
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600.0
MAX_ADMIN_BODY = 64 * 1024
DEFAULT_LIMIT = 100
_YAML = b"application/yaml"
_SERVED_SPECS = 8


class AdminApi:
    """Routes that let tests and people see and steer the mock."""

    def __init__(
        self,
        *,
        tasks: TaskService,
        journal: Journal,
        presenter: Presenter,
        document: Mapping[str, Any],
        queue: OutcomeQueue,
        scenarios: ScenarioParser,
        public_url: str | None = None,
        webhooks: WebhookService | None = None,
    ) -> None:
        self.tasks = tasks
        self.webhooks = webhooks
        self.journal = journal
        self.presenter = presenter
        self.queue = queue
        self.scenarios = scenarios
        self.public_url = public_url
        self._document = dict(document)
        self._served: dict[str, tuple[bytes, bytes]] = {}  # the spec as JSON and YAML, by the server it names

    def routes(self) -> list[Route]:
        """Every admin route, under :data:`ADMIN_PREFIX`; each ``GET`` answers ``HEAD`` too."""
        table: list[tuple[str, str, Callable[[Call], Any]]] = [
            ("GET", "/health", self.health),
            ("POST", "/reset", self.reset),
            ("GET", "/clock", self.clock_now),
            ("POST", "/clock/advance", self.advance),
            ("GET", "/requests", self.requests),
            ("DELETE", "/requests", self.clear_requests),
            ("GET", "/tasks", self.list_tasks),
            ("GET", "/tasks/{task_id}", self.task),
            ("POST", "/scenarios", self.queue_outcomes),
            ("GET", "/scenarios", self.queued_outcomes),
            ("DELETE", "/scenarios", self.clear_outcomes),
            ("GET", "/openapi.json", self.spec_json),
            ("GET", "/openapi.yaml", self.spec_yaml),
        ]
        return [Route(method, ADMIN_PREFIX + path, handler, head=method == "GET") for method, path, handler in table]

    async def health(self, call: Call) -> Reply:
        return json_reply(
            {"status": "ok", "tasks": len(self.tasks), "requests": self.journal.total, "worker": os.getpid()}
        )

    async def reset(self, call: Call) -> Reply:
        self.forget()
        if self.webhooks is not None:
            await self.webhooks.settled()  # nothing from before the reset is sent after the answer
        return json_reply({"reset": True, **self._clock_body()})

    def forget(self) -> None:
        """What a reset does: every task, request and queued outcome forgotten; the clock back to real time;
        pending webhook events and the delivery log forgotten, the configured endpoints back."""
        self.tasks.reset()
        self.journal.clear()
        self.queue.clear()
        if self.webhooks is not None:
            self.webhooks.reset()

    async def clock_now(self, call: Call) -> Reply:
        return json_reply(self._clock_body())

    async def advance(self, call: Call) -> Reply:
        usage = f'Send {{"seconds": <number from 0 to {MAX_ADVANCE_SECONDS:.0f}>}}'
        payload = await read_payload(call, usage)
        seconds = payload.get("seconds") if isinstance(payload, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_ADVANCE_SECONDS:
            raise ApiError(400, usage)  # the comparison refuses NaN and huge integers before any float conversion
        try:
            self.tasks.clock.advance(float(seconds))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        if self.webhooks is not None:
            self.webhooks.wake()  # events the move made due go out now
        return json_reply(self._clock_body())

    async def requests(self, call: Call) -> Reply:
        limit = query_limit(call, default=None)
        entries = [entry.as_dict() for entry in self.journal.entries(limit)]
        return json_reply({"requests": entries, "total": self.journal.total, "dropped": self.journal.dropped})

    async def clear_requests(self, call: Call) -> Reply:
        self.journal.clear()
        return json_reply({"requests": [], "total": 0, "dropped": 0})

    async def list_tasks(self, call: Call) -> Reply:
        tasks = self.tasks.recent(query_limit(call, default=DEFAULT_LIMIT) or 0)
        return json_reply({"tasks": [self.describe(task) for task in tasks], "stored": len(self.tasks)})

    async def task(self, call: Call) -> Reply:
        task = self.tasks.find(call.params["task_id"])
        if task is None:
            raise ApiError(404, "No such task")
        return json_reply(self.describe(task))

    async def queue_outcomes(self, call: Call) -> Reply:
        usage = (
            'Send {"operation": "create" | "poll", "outcomes": [<scenario>, ...], "api_key": <optional>}, each'
            " outcome in the grammar of X-Mock-Scenario (a poll's: ok, status=<code> or drop, with delay and trickle)"
        )
        payload = await read_payload(call, usage)
        if not isinstance(payload, dict):
            raise ApiError(400, usage)
        try:
            enqueue(
                self.queue,
                self.scenarios,
                payload.get("operation", "create"),
                payload.get("outcomes"),
                payload.get("api_key"),
            )
        except ValueError as exc:  # QueueFull too
            raise ApiError(400, f"{exc}. {usage}") from None
        return json_reply({"queued": self.queue.pending()})

    async def queued_outcomes(self, call: Call) -> Reply:
        return json_reply({"queued": self.queue.pending()})

    async def clear_outcomes(self, call: Call) -> Reply:
        self.queue.clear()
        return json_reply({"queued": self.queue.pending()})

    async def spec_json(self, call: Call) -> Reply:
        return Reply(200, self._spec(call)[0])

    async def spec_yaml(self, call: Call) -> Reply:
        return Reply(200, self._spec(call)[1], content_type=_YAML)

    def _spec(self, call: Call) -> tuple[bytes, bytes]:
        """The spec whose one server is this mock, as the client reached it (a few such kept)."""
        server = base_url(call, self.public_url)
        served = self._served.get(server)
        if served is None:
            document = {**self._document, "servers": [{"url": server, "description": "this mock"}]}
            served = (
                json.dumps(document, ensure_ascii=False).encode(),
                yaml.dump(document, Dumper=SAFE_DUMPER, sort_keys=False, allow_unicode=True).encode(),
            )
            if len(self._served) >= _SERVED_SPECS:
                self._served.clear()
            self._served[server] = served
        return served

    def _clock_body(self) -> dict[str, Any]:
        clock = self.tasks.clock
        return {"now": timestamp(clock.now(), "micro"), "offset_seconds": clock.offset}

    def describe(self, task: Task) -> dict[str, Any]:
        """A stored task as ``/__mock/tasks`` shows it."""
        state = self.tasks.read(task)
        return {
            "task_info": self.presenter.result(task, state, "")["task_info"],
            "phase": state.phase.value,
            "queue_seconds": task.queue_seconds,
            "run_seconds": None if task.run_seconds == float("inf") else task.run_seconds,
            "video_seconds": task.video_seconds,
            "failure": None
            if task.failure is None
            else {"code": task.failure.code, "stage": task.failure.stage.value, "title": task.failure.title},
            # For drift and for people: when the task enters each phase, and where it stands now.
            "timeline": self.tasks.timeline(task),
            "age_seconds": self.tasks.age(task),
            "video_path": video_path(task.id),  # where its video is served, once it has succeeded
            "rendering": task.rendering,  # the key its video is rendered under; None: the fixed video
        }


def json_reply(content: Any) -> Reply:
    # As Starlette's JSONResponse writes it, so that every admin answer reads the same as before.
    return Reply(200, json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode())


async def read_payload(call: Call, usage: str, *, when_empty: Any = None) -> Any:
    """The JSON body of an admin request; ``400`` with ``usage`` when it is not one. ``when_empty``: what
    a request with no body at all stands for, where one may be left out (else it is refused too)."""
    try:
        raw = await read_limited(call.receive, MAX_ADMIN_BODY, call.headers.get(b"content-length", b""))
        return when_empty if when_empty is not None and not raw.strip() else parse_json(raw)
    except (MalformedBody, BodyTooLarge) as exc:
        raise ApiError(400, f"{exc}. {usage}") from None


def query_limit(call: Call, default: int | None) -> int | None:
    raw = QueryParams(call.scope.get("query_string", b"")).get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(400, "limit must be a whole number")
    return int(raw)
