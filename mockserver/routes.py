"""The API's own routes: create a task, poll it (and, through :mod:`mockserver.downloads`, download its video).

The routes are mounted where the spec says (one per ``operationId``). Each handler is thin: it checks
the credentials and reads the body; the contract adapter admits the body (or says what it breaks),
the task service makes or finds the task, and the presenter writes the answer.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive

from mockserver.bodies import (
    BodyCutShort,
    BodyTooLarge,
    MalformedBody,
    Spool,
    SpooledBody,
    SpoolFull,
    read_limited,
    whole_body,
)
from mockserver.contract import Admission, Contract
from mockserver.downloads import Downloads
from mockserver.errors import ApiError, ErrorCatalog
from mockserver.faults import Faults, bearer_token
from mockserver.frontdoor import JSON, Call, Reply, Route, base_url
from mockserver.outcome_queue import MAX_QUEUED
from mockserver.presenter import ASSET_PREFIX, VIDEO_NAME, Presenter
from mockserver.scenarios import Scenario, ScenarioError, ScenarioParser
from mockserver.settings import ANY_KEY, Settings, ShotField
from mockserver.task_service import TaskService
from mockserver.tasks import Task
from mockserver.video_cache import VideoCache
from mockserver.video_recipe import Recipe, recipe_for
from mockserver.webhooks import WebhookService
from sparkspec.openapi import ApiSpec, SpecError
from sparkspec.redaction import summarize

CREATE = "createGeneration"
POLL = "getGeneration"
# Above this size a body is parsed off the event loop, a few at a time: checking an image costs up to
# tens of milliseconds (a PNG's pixels inflated), and what fits in it inflates to a few MB at most.
INLINE_BYTES = 4096
LARGE_BODIES_AT_ONCE = 2
# Up to this size a body is read into memory; a larger one (or one of unknown size) into a file.
SPOOL_BYTES = 256 * 1024
# Large bodies are received into temporary files first; this many largest bodies' worth at once.
SPOOLED_BODIES = 32
SPOOL_RETRY_AFTER = 1
# Up to this size a body goes into the journal as it came (and is parsed and summarised when read).
SMALL_BODY = 4096
# Verdicts on Authorization headers (those up to AUTH_VERDICT_BYTES long) kept at once.
AUTH_VERDICTS = 256
AUTH_VERDICT_BYTES = 512
SCENARIO_HEADER = "X-Mock-Scenario"


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the API routes work with; built once by ``create_app``."""

    settings: Settings
    spec: ApiSpec
    contract: Contract
    errors: ErrorCatalog
    tasks: TaskService
    presenter: Presenter
    scenarios: ScenarioParser
    default_scenario: Scenario
    faults: Faults
    videos: VideoCache | None = None  # None: every task gets the fixed video
    webhooks: WebhookService | None = None


class GenerationApi:
    """Handlers for the operations of the spec, plus the result video."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        keys = deps.settings.api_keys
        self._api_keys = tuple(key.encode() for key in keys - {ANY_KEY})  # encoded once, not per request
        # Without keys of its own, the mock takes the tokens that look like MuleRouter's keys.
        self._key_pattern = None if keys else deps.spec.bearer_key_pattern
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)
        self._spool = Spool(SPOOLED_BODIES * deps.settings.max_body_bytes)
        # Their own threads, not the shared pool: each thread that parses a large body keeps a malloc
        # arena as large as that body's peak, so a few fixed threads keep the memory a few bodies' worth.
        self._parsers = ThreadPoolExecutor(LARGE_BODIES_AT_ONCE, thread_name_prefix="large-body")
        self._token_pattern = deps.spec.bearer_token_pattern  # the spec's x-token-pattern, compiled once
        self._verdicts: dict[bytes | None, str | None] = {}
        self._shot_field: ShotField = deps.settings.shot_field
        self._videos = deps.videos
        self._webhooks = deps.webhooks

    def routes(self) -> list[Route]:
        """The spec's operations, each with its handler, and the result video."""
        handlers = {CREATE: self.create, POLL: self.poll}
        routes: list[Route] = []
        for op in self.deps.spec.operations.values():
            if op.operation_id not in handlers:
                raise SpecError(f"the mock has no handler for operation {op.operation_id}")
            routes.append(Route(op.method, op.path, handlers[op.operation_id]))
        downloads = Downloads(self.deps.tasks, self._videos, lambda raw_id: self._find(raw_id, None))
        routes.append(Route("GET", f"{ASSET_PREFIX}/{{task_id}}/{VIDEO_NAME}", downloads.video, head=True))
        return routes

    async def create(self, call: Call) -> Reply:
        deps, notes = self.deps, call.notes
        headers = call.headers
        authorization = headers.get(b"authorization")
        if self._verdicts.get(authorization, _UNKNOWN) is not None:  # else a header seen and found good
            self._authorize(authorization, CREATE)
        named = headers.get(SCENARIO_KEY)
        scenario = None if named is None else self._scenario(named, call)
        content_type, encoding = headers.get(b"content-type", b""), headers.get(b"content-encoding")
        if encoding is not None or content_type != JSON:  # else what nearly every client sends: nothing to check
            self._check_content_type(content_type, encoding)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) <= INLINE_BYTES:  # bytes: ASCII digits only
            # A small body nearly always comes whole in the first message: taken without a coroutine.
            message = await call.receive()
            raw = whole_body(message, deps.settings.max_body_bytes)
            if raw is None:
                try:
                    raw = await read_limited(call.receive, deps.settings.max_body_bytes, declared, message)
                except (BodyTooLarge, BodyCutShort) as exc:
                    raise self._refusal(exc) from None
            admission = self._admit(raw)
            recipe = None
        else:
            # A large body costs memory several times its size while it is parsed and its images
            # checked. It is received first, with no turn taken (a large one into a file: a client that
            # stops sending holds its file until the read timeout, neither memory nor a turn), then only
            # a few are parsed at once.
            raw, admission, recipe = await self._admit_large(call.receive, declared)
        # A small body goes into the journal as the bytes that came (one object to keep, where the
        # parsed body is many) and is parsed when read; a large one is summarised now.
        notes.body = raw if len(raw) <= SMALL_BODY else summarize(admission.body)
        if admission.fields is None:
            raise deps.errors.error(400, "; ".join(p.message for p in admission.problems), operation_id=CREATE)
        notes.shot_type = _effective_shot_type(admission.read, admission.fields, self._shot_field)
        faults = deps.faults
        if scenario is None:  # a valid create without the header takes the next queued outcome, if any
            queued = None if faults.idle() else faults.queued_create(authorization, notes)
            scenario = queued or deps.default_scenario
        # Each fault is one attribute read when the scenario has none: nearly every create.
        if scenario.delay is not None or faults.latency:
            await faults.wait("create", scenario, notes)
        if scenario.balance_low and self._webhooks is not None:  # sent whatever the create answers
            self._webhooks.balance_low()
        if scenario.reject_status is not None or scenario.drop:
            faults.refuse(CREATE, scenario, notes)
        if scenario.poll_faults and not faults.has_room_for(scenario):
            raise deps.errors.error(400, f"{SCENARIO_HEADER}: {MAX_QUEUED} outcomes wait already", operation_id=CREATE)
        videos = self._videos
        if videos is None or scenario.failure is not None or scenario.stall:  # no video to make
            task = deps.tasks.create(admission.fields, scenario)
        else:
            # A small body's recipe is read here (its images, if any, are small); a large one's was read
            # off the event loop with the body. The rendering is queued now, due in time for the task's end.
            recipe = recipe or recipe_for(admission.fields, notes.shot_type)
            task = deps.tasks.create(admission.fields, scenario, recipe.key)
            videos.want(recipe, task.queue_seconds + task.run_seconds)
        # Webhooks (issue 17): the task's events are scheduled. With no endpoint, two attribute reads.
        webhooks = self._webhooks
        if webhooks is not None and webhooks.active:
            webhooks.task_created(task, call)
        notes.task_id = task.id
        if scenario.poll_faults:
            faults.plan_polls(task.id, scenario)
        if scenario.lose_answer is not None:
            faults.lose(CREATE, scenario, notes)
        reply = Reply(202, deps.presenter.created(task))
        return reply if scenario.trickle is None else faults.deliver(reply, scenario, notes)

    async def poll(self, call: Call) -> Reply:
        deps, notes = self.deps, call.notes
        authorization = call.headers.get(b"authorization")
        self._authorize(authorization, POLL)
        task = self._find(call.params["task_id"], POLL)
        notes.task_id = task.id
        faults = deps.faults
        scenario = None if faults.idle() else faults.queued_poll(task.id, authorization, notes)
        if scenario is not None or faults.latency:
            await faults.wait("poll", scenario, notes)
        if scenario is not None:
            faults.refuse(POLL, scenario, notes)
        state = deps.tasks.read(task)
        reply = Reply(200, deps.presenter.result_json(task, state, lambda: base_url(call, deps.settings.public_url)))
        return reply if scenario is None else faults.deliver(reply, scenario, notes)

    async def _read(self, receive: Receive, declared: bytes) -> bytes:
        try:
            return await read_limited(receive, self.deps.settings.max_body_bytes, declared)
        except (BodyTooLarge, BodyCutShort) as exc:
            raise self._refusal(exc) from None

    async def _spool_in(self, receive: Receive, declared: bytes) -> SpooledBody:
        try:
            return await self._spool.receive(receive, self.deps.settings.max_body_bytes, declared)
        except (BodyTooLarge, BodyCutShort, SpoolFull) as exc:
            raise self._refusal(exc) from None

    def _refusal(self, exc: Exception) -> ApiError:
        """The answer to a body that could not be read whole."""
        errors = self.deps.errors
        if isinstance(exc, BodyTooLarge):
            # Closing the connection tells the client to stop sending the rest, which is never read.
            return errors.error(413, str(exc), operation_id=CREATE, headers={"Connection": "close"})
        if isinstance(exc, SpoolFull):
            headers = {"Retry-After": str(SPOOL_RETRY_AFTER), "Connection": "close"}
            return errors.error(503, str(exc), operation_id=CREATE, headers=headers)
        return errors.error(400, str(exc), operation_id=CREATE)  # cut short: for the journal, the client has gone

    async def _admit_large(self, receive: Receive, declared: bytes) -> tuple[bytes, Admission, Recipe | None]:
        loop = asyncio.get_running_loop()
        if declared.isdigit() and int(declared) <= SPOOL_BYTES:
            raw = await self._read(receive, declared)
            async with self._large_bodies:
                return await loop.run_in_executor(self._parsers, self._admit_read, raw)
        body = await self._spool_in(receive, declared)
        try:
            async with self._large_bodies:
                return await loop.run_in_executor(self._parsers, self._admit_spooled, body)
        finally:
            body.close()

    def _admit_spooled(self, body: SpooledBody) -> tuple[bytes, Admission, Recipe | None]:
        return self._admit_read(body.read())

    def _admit_read(self, raw: bytes) -> tuple[bytes, Admission, Recipe | None]:
        """A large body admitted and, if it asks for a video, its recipe read (its images hashed): off
        the event loop, both."""
        admission = self._admit(raw)
        fields = admission.fields
        if fields is None or self._videos is None:
            return raw, admission, None
        return raw, admission, recipe_for(fields, _effective_shot_type(admission.read, fields, self._shot_field))

    def _admit(self, raw: bytes) -> Admission:
        try:
            return self.deps.contract.admit(CREATE, raw)
        except MalformedBody as exc:
            raise self.deps.errors.error(400, str(exc), operation_id=CREATE) from None
        except BodyTooLarge as exc:  # too many values to parse
            raise self.deps.errors.error(413, str(exc), operation_id=CREATE) from None

    def _authorize(self, header: bytes | None, operation_id: str) -> None:
        # A client sends the same header on every request: its verdict is worked out once (and
        # forgotten with the others once AUTH_VERDICTS are kept).
        verdicts = self._verdicts
        try:
            problem = verdicts[header]
        except KeyError:
            problem = self._credential_problem(header)
            if header is None or len(header) <= AUTH_VERDICT_BYTES:
                if len(verdicts) >= AUTH_VERDICTS:
                    verdicts.clear()
                verdicts[header] = problem
        if problem:
            raise self.deps.errors.error(
                401, problem, operation_id=operation_id, headers={"WWW-Authenticate": 'Bearer realm="mulerouter"'}
            )

    def _credential_problem(self, header: bytes | None) -> str | None:
        """What is wrong with an Authorization header, or ``None``."""
        if header is None:
            return "Missing Authorization header; send 'Authorization: Bearer <API key>'"
        token = bearer_token(header)
        if token is None or not self._token_pattern.match(token):
            return "Invalid Authorization header format; expected 'Bearer <API key>'"
        if self._api_keys and not any(hmac.compare_digest(token.encode(), key) for key in self._api_keys):
            return "Invalid API key"
        if self._key_pattern is not None and not self._key_pattern.match(token):
            return (
                f"Invalid API key (this mock takes keys that match {self._key_pattern.pattern}, as MuleRouter's"
                " look; MOCK_API_KEYS names others, or * for any)"
            )
        return None

    def _scenario(self, raw: bytes, call: Call) -> Scenario:
        text = raw.decode("latin-1")
        call.notes.scenario = text[:200]
        try:
            return self.deps.scenarios.parse(text)
        except ScenarioError as exc:
            raise self.deps.errors.error(400, f"{SCENARIO_HEADER}: {exc}", operation_id=CREATE) from None

    def _check_content_type(self, raw_type: bytes, raw_encoding: bytes | None) -> None:
        content_type = raw_type.decode("latin-1")
        encoding = None if raw_encoding is None else raw_encoding.decode("latin-1")
        media, _, parameters = content_type.partition(";")
        problem = None
        if media.strip().lower() != "application/json":
            problem = f"Content-Type must be application/json, got {content_type[:80] or 'nothing'}"
        elif _charset(parameters) not in (None, "utf-8"):
            problem = f"The body must be UTF-8 JSON, got charset={str(_charset(parameters))[:40]}"
        elif encoding is not None and encoding.strip().lower() != "identity":
            problem = f"Content-Encoding {encoding[:40]} is not accepted; send the body uncompressed"
        if problem is not None:
            raise self.deps.errors.error(415, problem, operation_id=CREATE)

    def _find(self, raw_id: str, operation_id: str | None) -> Task:
        task = self.deps.tasks.find(raw_id)
        if task is None:
            shown = raw_id if len(raw_id) <= 64 else raw_id[:61] + "..."
            raise self.deps.errors.error(404, f"Task {shown} does not exist", operation_id=operation_id)
        return task


SCENARIO_KEY = SCENARIO_HEADER.lower().encode()
_UNKNOWN = object()  # an Authorization header whose verdict is not kept


def _charset(parameters: str) -> str | None:
    """The ``charset`` of a Content-Type's parameters, in lower case; ``None`` when there is none."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _effective_shot_type(body: Mapping[str, Any], fields: Mapping[str, Any], honoured: ShotField) -> Any:
    # With both spellings honoured, shot_type wins when both are sent. A spelling that is not
    # honoured is an unknown field: whatever it holds, it says nothing.
    if honoured == "shot_type" or (honoured == "both" and ("shot_type" in body or "multi_shots" not in body)):
        return fields.get("shot_type")
    legacy = fields.get("multi_shots")  # sent, or the spec's default
    return {True: "multi", False: "single"}.get(legacy, legacy) if isinstance(legacy, bool) else legacy
