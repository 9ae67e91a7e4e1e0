"""The API's own routes: create a task, poll it, download its video.

The routes are mounted where the spec says (one per ``operationId``). Each handler is thin: it
checks the credentials, asks the contract adapter and the image rules about the request, and
hands the rest to the domain.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import re
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope

from mockserver.bodies import BodyCutShort, BodyTooLarge, MalformedBody, parse_json, read_limited
from mockserver.clock import Clock
from mockserver.contract import Contract, Violation
from mockserver.errors import ApiError, ErrorCatalog
from mockserver.fastlane import Endpoint, Handler, Lane, Reply
from mockserver.payloads import ASSET_PREFIX, VIDEO_NAME, Presenter
from mockserver.scenarios import HEADER as SCENARIO_HEADER
from mockserver.scenarios import Scenario, ScenarioError, ScenarioParser
from mockserver.settings import Settings, ShotField
from mockserver.store import TaskStore
from mockserver.tasks import Phase, Task, plan_task, state_at
from sparkspec.openapi import ApiSpec, SpecError
from sparkspec.redaction import summarize
from sparkspec.resources import video_path

_RANGE_PART = re.compile(r"(\d{1,18})-(\d{0,18})|-(\d{1,18})")
CREATE = "createGeneration"
POLL = "getGeneration"
# Parsing a large body blocks; above this size it happens off the event loop, a few at a time.
THREADPOOL_BYTES = 256 * 1024
LARGE_BODIES_AT_ONCE = 2
# Up to this size a body goes into the journal as it came (and is parsed and summarised when read).
SMALL_BODY = 4096


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the API routes work with; built once by ``create_app``."""

    settings: Settings
    spec: ApiSpec
    contract: Contract
    errors: ErrorCatalog
    store: TaskStore
    clock: Clock
    presenter: Presenter
    scenarios: ScenarioParser
    default_scenario: Scenario


class GenerationApi:
    """Handlers for the operations of the spec, plus the result video."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self._new_id = _id_source(deps.settings.seed)
        self._api_keys = tuple(key.encode() for key in deps.settings.api_keys)  # encoded once, not per request
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)
        # Their own threads, not the shared pool: each thread that parses a large body keeps a malloc
        # arena as large as that body's peak, so a few fixed threads keep the memory a few bodies' worth.
        self._parsers = ThreadPoolExecutor(LARGE_BODIES_AT_ONCE, thread_name_prefix="large-body")
        # nulls="absent": the fields that keep their null (the required ones, from the spec). None: keep every null.
        self._keep_nulls_in: frozenset[str] | None = None
        if deps.settings.nulls == "absent":
            self._keep_nulls_in = frozenset(deps.spec.request_schema(CREATE).get("required", ()))
        self._shot_field: ShotField = deps.settings.shot_field

    def reset_ids(self) -> None:
        """Start the id sequence again (it only repeats when a seed is set)."""
        self._new_id = _id_source(self.deps.settings.seed)

    def lanes(self) -> list[Lane]:
        """The spec's operations, each with its handler, for the fast lane and for the router."""
        handlers: dict[str, Handler] = {CREATE: self.create, POLL: self.poll}
        lanes: list[Lane] = []
        for op in self.deps.spec.operations.values():
            if op.operation_id not in handlers:
                raise SpecError(f"the mock has no handler for operation {op.operation_id}")
            lanes.append(Lane(op.method, op.path, handlers[op.operation_id]))
        return lanes

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for lane, op in zip(self.lanes(), self.deps.spec.operations.values(), strict=True):
            route = Route(lane.path, Endpoint(lane.handler), methods=[lane.method], name=op.operation_id)
            route.methods = {lane.method}  # only what the spec documents: Starlette would add HEAD to a GET
            routes.append(route)
        routes.append(Route(f"{ASSET_PREFIX}/{{task_id}}/{VIDEO_NAME}", self.video, methods=["GET"], name="video"))
        return routes

    async def create(self, scope: Scope, receive: Receive) -> Reply:
        deps = self.deps
        notes: dict[str, Any] = _notes(scope)
        headers = _header_values(scope["headers"])
        self._authorize(headers.get("authorization"), CREATE)
        scenario = self._scenario(headers.get(SCENARIO_KEY), notes)
        self._check_content_type(headers.get("content-type", ""))
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) <= THREADPOOL_BYTES:
            raw = await self._read(receive, declared)
            body, read, violations = self._parse_and_validate(raw)
        else:
            # A large body (or one of unknown size) costs memory several times its size while it is
            # parsed and its images decoded: only a few are handled at once, the others wait unread.
            async with self._large_bodies:
                raw = await self._read(receive, declared)
                loop = asyncio.get_running_loop()
                body, read, violations = await loop.run_in_executor(self._parsers, self._parse_and_validate, raw)
        # A small body goes into the journal as the bytes that came (one object to keep, where the
        # parsed body is many; every object kept per request costs throughput) and is parsed when
        # read; a large one is summarised now.
        notes["body"] = raw if len(raw) <= SMALL_BODY else summarize(body)
        if violations:
            raise deps.errors.error(400, "; ".join(v.message for v in violations), operation_id=CREATE)
        fields = deps.contract.with_defaults(CREATE, read)
        notes["shot_type"] = _effective_shot_type(read, fields, self._shot_field)
        if scenario.reject_status is not None:
            raise self._rejection(scenario)
        task = self._new_task(fields, scenario)
        deps.store.add(task)
        notes["task_id"] = task.id
        return Reply(202, deps.presenter.created(task))

    async def poll(self, scope: Scope, receive: Receive) -> Reply:
        deps = self.deps
        headers = _header_values(scope["headers"])
        self._authorize(headers.get("authorization"), POLL)
        task = self._find(scope["path_params"]["task_id"], POLL)
        _notes(scope)["task_id"] = task.id
        state = deps.store.settle(task, state_at(task, deps.clock.now()))
        return Reply(200, deps.presenter.result_json(task, state, lambda: self._base_url(scope, headers)))

    async def video(self, request: Request) -> Response:
        task = self._find(request.path_params["task_id"], None)
        if self.deps.store.settle(task, state_at(task, self.deps.clock.now())).phase is not Phase.SUCCEEDED:
            raise ApiError(404, f"Task {task.id} has no video: it has not succeeded")
        if not _usable_range(request.headers.get("range", "bytes=0-")):
            # RFC 9110 lets a server ignore a Range it cannot parse: send the whole file, never a bare 400.
            request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
        return FileResponse(video_path(), media_type="video/mp4", filename=VIDEO_NAME)

    async def _read(self, receive: Receive, declared: str) -> bytes:
        try:
            return await read_limited(receive, self.deps.settings.max_body_bytes, declared)
        except BodyTooLarge as exc:
            # Closing the connection tells the client to stop sending the rest, which is never read.
            raise self.deps.errors.error(413, str(exc), operation_id=CREATE, headers={"Connection": "close"}) from None
        except BodyCutShort as exc:  # for the journal: the client has gone and reads no answer
            raise self.deps.errors.error(400, str(exc), operation_id=CREATE) from None

    def _parse_and_validate(self, raw: bytes) -> tuple[Any, Any, list[Violation]]:
        """The body as sent, the body as read (the same object unless nulls are read as absent), and
        what the read body breaks."""
        try:
            body = parse_json(raw)
        except MalformedBody as exc:
            raise self.deps.errors.error(400, str(exc), operation_id=CREATE) from None
        read = body
        if self._keep_nulls_in is not None and isinstance(body, dict):
            keep = self._keep_nulls_in
            read = {name: value for name, value in body.items() if value is not None or name in keep}
        return body, read, self.deps.contract.body_violations(CREATE, read)

    def _authorize(self, header: str | None, operation_id: str) -> None:
        problem = None
        if header is None:
            problem = "Missing Authorization header; send 'Authorization: Bearer <API key>'"
        else:
            scheme, _, token = header.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token:
                problem = "Invalid Authorization header format; expected 'Bearer <API key>'"
            elif self._api_keys and not any(hmac.compare_digest(token.encode(), key) for key in self._api_keys):
                problem = "Invalid API key"
        if problem:
            raise self.deps.errors.error(
                401, problem, operation_id=operation_id, headers={"WWW-Authenticate": 'Bearer realm="mulerouter"'}
            )

    def _scenario(self, text: str | None, notes: dict[str, Any]) -> Scenario:
        if text is None:
            return self.deps.default_scenario
        notes["scenario"] = text[:200]
        try:
            return self.deps.scenarios.parse(text)
        except ScenarioError as exc:
            raise self.deps.errors.error(400, str(exc), operation_id=CREATE) from None

    def _check_content_type(self, content_type: str) -> None:
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            shown = content_type[:80] or "nothing"
            raise self.deps.errors.error(
                415, f"Content-Type must be application/json, got {shown}", operation_id=CREATE
            )

    def _rejection(self, scenario: Scenario) -> ApiError:
        status = scenario.reject_status or 500
        details = {
            402: "Insufficient balance (simulated by the mock)",
            429: f"Rate limit reached; retry after {scenario.retry_after} seconds (simulated by the mock)",
            500: "Internal error; retry later (simulated by the mock)",
        }
        headers = {"Retry-After": str(scenario.retry_after)} if scenario.retry_after is not None else None
        return self.deps.errors.error(status, details[status], operation_id=CREATE, headers=headers)

    def _new_task(self, fields: Mapping[str, Any], scenario: Scenario) -> Task:
        task_id, bits = self._new_id()
        return plan_task(
            task_id,
            created_at=self.deps.clock.now(),
            video_seconds=int(fields["duration"]),
            prompt_extend=bool(fields["prompt_extend"]),
            speed=self.deps.settings.speed,
            failure=scenario.failure,
            stall=scenario.stall,
            # The low 48 bits of a version 4 UUID are random (the version and variant bits are higher up).
            jitter=(((bits >> 16) & 0xFFFF) / 0xFFFF, (bits & 0xFFFF) / 0xFFFF),
        )

    def _find(self, raw_id: str, operation_id: str | None) -> Task:
        task = self.deps.store.get(raw_id)  # an id as the mock wrote it is a valid one
        if task is not None:
            return task
        if operation_id is None or self.deps.contract.parameter_is_valid(operation_id, "task_id", raw_id):
            try:
                task = self.deps.store.get(str(uuid.UUID(raw_id)))
            except ValueError:
                task = None
        if task is None:
            shown = raw_id if len(raw_id) <= 64 else raw_id[:61] + "..."
            raise self.deps.errors.error(404, f"Task {shown} does not exist", operation_id=operation_id)
        return task

    def _base_url(self, scope: Scope, headers: Mapping[str, str]) -> str:
        if self.deps.settings.public_url:
            return self.deps.settings.public_url
        host = headers.get("host")
        if host is None:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope['scheme']}://{host}"


def _id_source(seed: int | None) -> Callable[[], tuple[str, int]]:
    """Version 4 UUIDs, as text and as a number; repeatable when seeded."""
    # Task ids must be unique, not unguessable: the fast generator, seeded from os.urandom, will do.
    bits = random.Random(seed).getrandbits

    def new_id() -> tuple[str, int]:
        number = (bits(128) & _UUID_CLEAR) | _UUID_V4
        text = number.to_bytes(16, "big").hex()  # a third faster than formatting the number as hex
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}", number

    return new_id


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)


_WANTED_HEADERS = frozenset(
    {b"authorization", b"content-type", b"content-length", b"host", SCENARIO_HEADER.lower().encode()}
)
SCENARIO_KEY = SCENARIO_HEADER.lower()


def _notes(scope: Scope) -> dict[str, Any]:
    """What the handler adds to the request's journal entry (the trace-and-journal layer reads it)."""
    notes: dict[str, Any] = scope.setdefault("state", {}).setdefault("journal", {})
    return notes


def _header_values(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers a handler looks at, in one pass over the raw list (the first of a repeated one wins)."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name in _WANTED_HEADERS:
            found.setdefault(name.decode(), value.decode("latin-1"))
    return found


def _usable_range(header: str) -> bool:
    """A Range header Starlette can serve: ``bytes=`` and well-formed parts whose start is not past their end."""
    unit, _, parts = header.partition("=")
    if unit.strip().lower() != "bytes" or not parts.strip():
        return False
    for part in parts.split(","):
        match = _RANGE_PART.fullmatch(part.strip())
        if match is None or (match.group(2) and int(match.group(1)) > int(match.group(2))):
            return False
    return True


def _effective_shot_type(body: Mapping[str, Any], fields: Mapping[str, Any], honoured: ShotField) -> Any:
    # With both spellings honoured, shot_type wins when both are sent. A spelling that is not
    # honoured is an unknown field: whatever it holds, it says nothing.
    if honoured == "shot_type" or (honoured == "both" and ("shot_type" in body or "multi_shots" not in body)):
        return fields.get("shot_type")
    legacy = fields.get("multi_shots")  # sent, or the spec's default
    return {True: "multi", False: "single"}.get(legacy, legacy) if isinstance(legacy, bool) else legacy
