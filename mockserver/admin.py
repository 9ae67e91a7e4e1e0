"""The admin API, under ``/__mock`` (a prefix the real API cannot have): state, clock, journal, spec.

GET    /__mock/health              liveness, and how many tasks are stored
POST   /__mock/reset               forget every task and request; the clock returns to real time
GET    /__mock/clock               the mock's time, and how far it was advanced
POST   /__mock/clock/advance       {"seconds": 90} moves the clock forwards
GET    /__mock/requests?limit=N    the journal, oldest first
DELETE /__mock/requests            empty the journal
GET    /__mock/tasks?limit=N       stored tasks with their current state and timeline
GET    /__mock/tasks/{task_id}     one of them
GET    /__mock/openapi.json        the spec as served here (its only server is this mock)
GET    /__mock/openapi.yaml        the same, as YAML
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from mockserver.bodies import BodyTooLarge, MalformedBody, parse_json, read_limited
from mockserver.clock import Clock
from mockserver.errors import ApiError
from mockserver.journal import Journal
from mockserver.middleware import ADMIN_PREFIX
from mockserver.payloads import Presenter, timestamp
from mockserver.store import TaskStore
from mockserver.tasks import Task, state_at
from sparkspec.openapi import SAFE_DUMPER

MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600.0
MAX_ADMIN_BODY = 64 * 1024
DEFAULT_LIMIT = 100


class AdminApi:
    """Routes that let tests and people see and steer the mock."""

    def __init__(
        self,
        *,
        store: TaskStore,
        journal: Journal,
        clock: Clock,
        presenter: Presenter,
        document: Mapping[str, Any],
        on_reset: Callable[[], None],
    ) -> None:
        self.store = store
        self.journal = journal
        self.clock = clock
        self.presenter = presenter
        self.on_reset = on_reset
        self._spec_json = json.dumps(document, ensure_ascii=False).encode()
        self._spec_yaml = yaml.dump(dict(document), Dumper=SAFE_DUMPER, sort_keys=False, allow_unicode=True).encode()

    def routes(self) -> list[BaseRoute]:
        return [
            Mount(
                ADMIN_PREFIX,
                routes=[
                    Route("/health", self.health, methods=["GET"]),
                    Route("/reset", self.reset, methods=["POST"]),
                    Route("/clock", self.clock_now, methods=["GET"]),
                    Route("/clock/advance", self.advance, methods=["POST"]),
                    Route("/requests", self.requests, methods=["GET"]),
                    Route("/requests", self.clear_requests, methods=["DELETE"]),
                    Route("/tasks", self.tasks, methods=["GET"]),
                    Route("/tasks/{task_id}", self.task, methods=["GET"]),
                    Route("/openapi.json", self.spec_json, methods=["GET"]),
                    Route("/openapi.yaml", self.spec_yaml, methods=["GET"]),
                ],
            )
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "tasks": len(self.store), "requests": self.journal.total, "worker": os.getpid()}
        )

    async def reset(self, request: Request) -> Response:
        self.store.clear()
        self.journal.clear()
        self.clock.reset()
        self.on_reset()
        return JSONResponse({"reset": True, **self._clock_body()})

    async def clock_now(self, request: Request) -> Response:
        return JSONResponse(self._clock_body())

    async def advance(self, request: Request) -> Response:
        usage = f'Send {{"seconds": <number from 0 to {MAX_ADVANCE_SECONDS:.0f}>}}'
        try:
            declared = request.headers.get("content-length", "")
            payload = parse_json(await read_limited(request.receive, MAX_ADMIN_BODY, declared))
        except (MalformedBody, BodyTooLarge) as exc:
            raise ApiError(400, f"{exc}. {usage}") from None
        seconds = payload.get("seconds") if isinstance(payload, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_ADVANCE_SECONDS:
            raise ApiError(400, usage)  # the comparison refuses NaN and huge integers before any float conversion
        try:
            self.clock.advance(float(seconds))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return JSONResponse(self._clock_body())

    async def requests(self, request: Request) -> Response:
        limit = _limit(request, default=None)
        entries = [entry.as_dict() for entry in self.journal.entries(limit)]
        return JSONResponse({"requests": entries, "total": self.journal.total, "dropped": self.journal.dropped})

    async def clear_requests(self, request: Request) -> Response:
        self.journal.clear()
        return JSONResponse({"requests": [], "total": 0, "dropped": 0})

    async def tasks(self, request: Request) -> Response:
        limit = _limit(request, default=DEFAULT_LIMIT) or 0
        tasks = list(self.store)[-limit:] if limit else []
        return JSONResponse({"tasks": [self._describe(task) for task in tasks], "stored": len(self.store)})

    async def task(self, request: Request) -> Response:
        task = self.store.get(request.path_params["task_id"].lower())
        if task is None:
            raise ApiError(404, "No such task")
        return JSONResponse(self._describe(task))

    async def spec_json(self, request: Request) -> Response:
        return Response(self._spec_json, media_type="application/json")

    async def spec_yaml(self, request: Request) -> Response:
        return Response(self._spec_yaml, media_type="application/yaml")

    def _clock_body(self) -> dict[str, Any]:
        return {"now": timestamp(self.clock.now(), "micro"), "offset_seconds": self.clock.offset}

    def _describe(self, task: Task) -> dict[str, Any]:
        state = self.store.settle(task, state_at(task, self.clock.now()))
        return {
            "task_info": self.presenter.result(task, state, "")["task_info"],
            "phase": state.phase.value,
            "queue_seconds": task.queue_seconds,
            "run_seconds": None if math.isinf(task.run_seconds) else task.run_seconds,
            "video_seconds": task.video_seconds,
            "failure": None
            if task.failure is None
            else {"code": task.failure.code, "stage": task.failure.stage.value, "title": task.failure.title},
        }


def _limit(request: Request, default: int | None) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(400, "limit must be a whole number")
    return int(raw)
