"""The app factory: wires the spec, the contract adapter, the domain and the routes together."""

from __future__ import annotations

import copy
import gc
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp

from mockserver.admin import ADMIN_PREFIX, AdminApi
from mockserver.clock import Clock, SystemClock
from mockserver.contract import Contract, FormatCheck
from mockserver.errors import ErrorCatalog
from mockserver.faults import LOST_STATUSES, POLL_STATUSES, REJECTIONS, Faults, scenario_parser
from mockserver.frontdoor import FrontDoor, Routes, base_url
from mockserver.journal import Journal
from mockserver.outcome_queue import MemoryQueue, OutcomeQueue
from mockserver.presenter import Presenter
from mockserver.routes import CREATE, POLL, SCENARIO_HEADER, Dependencies, GenerationApi
from mockserver.scenarios import SUCCEED, FailureReason, ScenarioError
from mockserver.settings import ANY_KEY, Settings, SettingsError, ShotField, webhook_readings
from mockserver.shared_webhooks import SharedLedger
from mockserver.state_file import SharedClock, StateFile, StateJournal, StateQueue, StateStore
from mockserver.store import MemoryStore, TaskStore
from mockserver.task_service import TaskService
from mockserver.tasks import INITIAL, TRANSITIONS, Phase
from mockserver.video_cache import VideoCache, video_cache
from mockserver.webhook_admin import WebhookAdmin
from mockserver.webhook_delivery import DeliveryRules
from mockserver.webhook_endpoints import Endpoints
from mockserver.webhook_ledger import WebhookLedger
from mockserver.webhook_process import ProcessConfig
from mockserver.webhooks import WebhookService, webhook_sender
from sparkspec.image_rules import PLAIN_URL, ImageRejected, ImageRules, is_valid_image
from sparkspec.openapi import ApiSpec, Lifecycle, SpecError
from sparkspec.webhook_rules import endpoint_limits, webhook_signing


class MockApp(Starlette):
    """A Starlette app whose every HTTP request goes through the front door (Starlette's own router
    is left only the lifespan)."""

    def __init__(
        self,
        *,
        routes: Routes,
        journal: Journal,
        clock: Clock,
        lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        super().__init__(lifespan=lifespan)
        self._routes = routes
        self._journal = journal
        self._clock = clock

    def build_middleware_stack(self) -> ASGIApp:
        return FrontDoor(self._routes, self._journal, self._clock, unjournaled_prefix=ADMIN_PREFIX, other=self.router)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    spec: ApiSpec | None = None,
    store: TaskStore | None = None,
) -> Starlette:
    """Build the mock server.

    Args:
        settings: How the mock behaves; defaults to :class:`Settings` with its defaults.
        clock: The time tasks are read against; a :class:`~mockserver.clock.ManualClock` makes
            tests exact. Defaults to real time.
        spec: The contract; defaults to the spec that ships with the package.
        store: Where tasks are kept; defaults to a bounded in-memory store.

    Raises:
        SettingsError: a setting does not fit the spec (an unknown vocabulary or scenario).
        SpecError: the spec lacks something the mock needs.

    Example:
        >>> from starlette.testclient import TestClient
        >>> from mockserver import create_app, Settings
        >>> client = TestClient(create_app(Settings(speed=600)))
    """
    settings = settings or Settings()
    spec = _honouring(spec or ApiSpec.load(), settings.shot_field)
    formats = _spec_formats(spec, check_integrity=settings.image_checks == "full")
    contract = Contract(spec, formats, nulls_absent=settings.nulls == "absent")
    errors = ErrorCatalog(spec)
    journal: Journal
    queue: OutcomeQueue
    ledger: WebhookLedger
    state: StateFile | None = None
    if settings.state_file is not None:
        state = StateFile(settings.state_file)
        clock = clock or SharedClock(state)
        journal = StateJournal(state, settings.journal_size, settings.api_keys)
        store = store if store is not None else StateStore(state, settings.max_tasks)
        queue = StateQueue(state)
        ledger = SharedLedger(state, settings.webhook_log_size)
    else:
        clock = clock or SystemClock()
        journal = Journal(settings.journal_size, settings.api_keys)
        store = store if store is not None else MemoryStore(settings.max_tasks)
        queue = MemoryQueue()
        ledger = WebhookLedger(settings.webhook_log_size)

    if any(not spec.bearer_token_pattern.match(key) for key in settings.api_keys - {ANY_KEY}):
        raise SettingsError(
            "api_keys must be bearer tokens (the spec's x-token-pattern, RFC 6750: letters, digits and -._~+/,"
            " then any '='), comma-separated"
        )
    webhook_limits = endpoint_limits(spec)
    if len(settings.webhook_urls) > webhook_limits.max_endpoints:
        raise SettingsError(
            f"webhook_urls: at most {webhook_limits.max_endpoints} endpoints (the spec's x-webhook-endpoints,"
            f" as MuleRouter's console allows); got {len(settings.webhook_urls)}"
        )
    longest = max(map(len, settings.webhook_urls), default=0)
    if longest > webhook_limits.url_max_length:  # only its length is shown: a URL may carry a token
        raise SettingsError(
            f"webhook_urls: a webhook URL has at most {webhook_limits.url_max_length} characters"
            f" (the spec's x-webhook-endpoints); got one of {longest}"
        )
    lifecycle = spec.lifecycle
    _check_lifecycle(lifecycle)
    if settings.vocabulary not in lifecycle.vocabularies:
        known = ", ".join(sorted(lifecycle.vocabularies))
        raise SettingsError(f"vocabulary must be one of {known} (from the spec); got {settings.vocabulary!r}")
    presenter = Presenter(lifecycle.vocabularies[settings.vocabulary], settings.error_placement, settings.timestamps)

    failure_codes = {e.code: FailureReason(e.title, e.description) for e in spec.task_error_codes}
    scenarios = scenario_parser(failure_codes)
    try:
        default_scenario = scenarios.parse(settings.scenario) if settings.scenario else SUCCEED
    except ScenarioError as exc:
        raise SettingsError(f"scenario: {SCENARIO_HEADER}: {exc}") from None
    for operation_id, statuses in ((CREATE, {*REJECTIONS, *LOST_STATUSES}), (POLL, set(POLL_STATUSES))):
        undocumented = sorted(s for s in statuses if not errors.is_documented(operation_id, s))
        if undocumented:
            raise SpecError(f"{operation_id} must document {undocumented}, which scenarios can make it answer")
    counter = reset_counter = None
    if state is not None:
        counter = partial(state.next_number, "task_ids")
        reset_counter = partial(state.set_meta, "task_ids", 0.0)
    # One rule for the spellings of a task id, everywhere: the poll's parameter schema (the spec's).
    id_rule = partial(contract.parameter_is_valid, POLL, "task_id")
    tasks = TaskService(
        store,
        clock,
        speed=settings.speed,
        seed=settings.seed,
        counter=counter,
        reset_counter=reset_counter,
        id_rule=id_rule,
    )
    webhooks = _webhooks(settings, spec, clock, presenter, ledger)
    api = GenerationApi(
        Dependencies(
            settings=settings,
            spec=spec,
            contract=contract,
            errors=errors,
            tasks=tasks,
            presenter=presenter,
            scenarios=scenarios,
            default_scenario=default_scenario,
            faults=Faults(queue, scenarios, errors, settings.latency, settings.seed),
            videos=_videos(settings),
            webhooks=webhooks,
        )
    )
    admin = AdminApi(
        tasks=tasks,
        journal=journal,
        presenter=presenter,
        document=contract.openapi_document,
        queue=queue,
        scenarios=scenarios,
        public_url=settings.public_url,
        webhooks=webhooks,
    )
    routes = [*api.routes(), *admin.routes(), *WebhookAdmin(webhooks, settings.webhook_secret).routes()]
    app = MockApp(
        routes=Routes(routes, redirect_prefix=ADMIN_PREFIX), journal=journal, clock=clock, lifespan=webhooks.lifespan
    )
    app.state.settings = settings
    app.state.spec = spec
    app.state.store = store
    app.state.journal = journal
    app.state.clock = clock
    app.state.tasks = tasks
    app.state.queue = queue
    app.state.scenarios = scenarios
    app.state.admin = admin
    app.state.videos = api.deps.videos
    app.state.webhooks = webhooks
    return app


def _videos(settings: Settings) -> VideoCache | None:
    """Where rendered videos are kept: beside the state file, which every worker and restart shares;
    without one, in the process's temporary directory. ``None`` when every task gets the fixed video."""
    if settings.video == "fixed":
        return None
    state = settings.state_file
    directory = None if state is None else state.with_name(state.name + "-videos")
    return video_cache(directory, settings.video_cache, shared=state is not None)


def _webhooks(
    settings: Settings, spec: ApiSpec, clock: Clock, presenter: Presenter, ledger: WebhookLedger
) -> WebhookService:
    """The webhook service, with the endpoints of the settings (none: it stays idle until the admin API adds one).

    Raises:
        SettingsError: ``webhook_secret`` cannot be a key under the key reading taken.
    """
    encoding, key = webhook_readings(settings, webhook_signing(spec))  # the settings', else the spec's
    secret = settings.webhook_secret
    configured = [(url, secret) for url in settings.webhook_urls] if secret is not None else []
    rules = DeliveryRules(
        retries=settings.webhook_retries,
        backoff=settings.webhook_backoff,
        timeout=settings.webhook_timeout,
        encoding=encoding,
        key=key,
    )
    return WebhookService(
        endpoints=Endpoints(key, configured, limits=endpoint_limits(spec)),
        process=ProcessConfig(rules, presenter, settings.timestamps, webhook_sender(spec)),
        clock=clock,
        ledger=ledger,
        origin=partial(base_url, public_url=settings.public_url),
    )


def _check_lifecycle(lifecycle: Lifecycle) -> None:
    """The spec's lifecycle must be the one the domain runs: the same phases, start, ends and moves."""
    runs = {
        "phases": {p.value for p in Phase},
        "initial": INITIAL.value,
        "terminal": {p.value for p in Phase if p.terminal},
        "transitions": {k.value: {v.value for v in vs} for k, vs in TRANSITIONS.items()},
    }
    documented = {
        "phases": set(lifecycle.phases),
        "initial": lifecycle.initial,
        "terminal": set(lifecycle.terminal),
        "transitions": {k: set(v) for k, v in lifecycle.transitions.items()},
    }
    for part, value in runs.items():
        if documented[part] != value:
            raise SpecError(f"x-task-lifecycle {part} is {documented[part]}, but the mock runs {value}")


def _honouring(spec: ApiSpec, shot_field: ShotField) -> ApiSpec:
    """The spec the mock runs when only one spelling of the shot type is honoured: a copy whose
    request schema lacks the other one's property, which makes it an unknown field (ignored, since
    the schema leaves further fields open). With both honoured, ``spec`` itself."""
    if shot_field == "both":
        return spec
    ignored = "multi_shots" if shot_field == "shot_type" else "shot_type"
    derived = ApiSpec(copy.deepcopy(dict(spec.document)), spec.source)
    schema = derived.request_schema(CREATE)  # resolved inside the copy: the node to change
    properties = schema.get("properties", {})
    if shot_field not in properties or ignored not in properties:
        raise SpecError(f"shot_field={shot_field!r} needs both shot_type and multi_shots in the {CREATE} body")
    if schema.get("additionalProperties", True) is not True:
        raise SpecError(f"shot_field={shot_field!r} needs the {CREATE} body to ignore unknown fields")
    del properties[ignored]
    return derived


def _spec_formats(spec: ApiSpec, *, check_integrity: bool = True) -> dict[str, FormatCheck]:
    """The spec's own formats: each schema with ``x-image-rules`` names, in ``format``, what it checks.

    ``check_integrity`` is the ``image_checks`` setting: whether a Base64 image must be a complete file.
    """
    formats: dict[str, FormatCheck] = {}
    for name, schema in spec.schemas_with_extension("x-image-rules").items():
        if "format" not in schema:
            raise SpecError(f"schema {name} has x-image-rules but no format to check them under")
        rules = ImageRules.from_spec(schema["x-image-rules"], check_integrity=check_integrity)
        formats[schema["format"]] = FormatCheck(is_valid_image(rules), ImageRejected, shortcut=PLAIN_URL)
    if not formats:
        raise SpecError("no schema of the spec carries x-image-rules")
    return formats


def app_from_env() -> Starlette:
    """The app as ``MOCK_*`` variables describe it: what each uvicorn worker process builds."""
    from mockserver.http_protocol import configure as configure_protocol  # uvicorn's: for the process that serves

    settings = Settings.from_env(os.environ)
    app = create_app(settings)
    configure_protocol(settings.read_timeout)
    settle_heap()
    return app


def settle_heap() -> None:
    """Move what start-up built (the spec, its validators, the modules) out of the garbage
    collector's sight. Each full collection would otherwise walk those hundreds of thousands of
    objects again, while the journal's and the store's turnover set off one every few thousand
    requests: a pause of milliseconds, felt in the p99. For the process that serves, not for tests."""
    gc.freeze()
