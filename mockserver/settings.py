"""The mock's settings: one frozen dataclass, read from the environment in one place."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from mockserver.clock import TimestampStyle
from mockserver.outcome_queue import OPERATIONS
from mockserver.scenarios import ScenarioError, latencies
from mockserver.webhook_endpoints import url_problem
from sparkspec.webhook_rules import WebhookSigning
from sparkspec.webhook_signature import Encoding, KeyReading, check_secret, signing_key

Vocabulary = str  # a key of x-task-lifecycle.vocabularies in the spec; checked against it in create_app
ErrorPlacement = Literal["task_info", "top_level"]
# Readings where the docs are silent or disagree; each default is the reading the mock has always had.
NullReading = Literal["refuse", "absent"]
ShotField = Literal["both", "shot_type", "multi_shots"]
ImageChecks = Literal["full", "header"]
VideoSource = Literal["rendered", "fixed"]

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]

#: The api_keys entry that accepts any well-formed bearer token.
ANY_KEY = "*"
ENV_PREFIX = "MOCK_"
# Beyond these, timelines stop being representable: a task would last longer than the calendar.
MIN_SPEED, MAX_SPEED = 0.001, 1_000_000.0
MAX_WORKERS = 64
MAX_READ_TIMEOUT = 3600.0
MAX_VIDEO_CACHE = 100_000
MAX_WEBHOOK_RETRIES = 10
MAX_WEBHOOK_BACKOFF = 60.0
MAX_WEBHOOK_TIMEOUT = 120.0
T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has a value the mock cannot use. The message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that changes how the mock behaves.

    Each field can be set from the environment as ``MOCK_<FIELD NAME IN CAPITALS>``; see
    :meth:`from_env` and the README.

    Args:
        host: Interface to listen on.
        port: TCP port to listen on.
        speed: How many times faster than real time tasks progress (``600`` turns a two-minute
            task into 0.2 s).
        vocabulary: The status words tasks are reported in: ``guide`` (queued, running,
            succeeded, failed) or ``legacy`` (pending, processing, completed, failed).
        error_placement: Where a failed task's error object goes: inside ``task_info`` or at
            the top level of the poll response.
        timestamps: ``seconds`` (``2025-09-16T10:00:00Z``, as the docs show) or ``micro``
            (``2025-09-16T10:00:00.123456+00:00``, as a captured response showed).
        api_keys: When not empty, only these bearer tokens are accepted, or, with ``*``, any
            well-formed token; when empty (the default), any token of the form the spec's
            ``x-key-pattern`` gives MuleRouter's keys (``sk-mr-...``).
        scenario: Scenario applied to every create that does not send ``X-Mock-Scenario``.
        latency: How long creates and polls wait before they are answered: ``create=0.5``,
            ``poll=0.1-0.3`` (a time in the range, repeatable with ``seed``), ``all=0.2`` or just
            ``0.2``, comma-separated; a request's own ``delay=`` (its scenario) replaces it.
        journal_size: How many requests the journal keeps (oldest dropped first).
        max_tasks: How many tasks the store keeps (oldest dropped first).
        max_body_bytes: Largest request body accepted; larger ones get 413.
        read_timeout: Seconds a client may leave a request's headers or body unfinished without
            sending a byte; then the request gets 408 and the connection is closed.
        public_url: Base URL for result video links; by default the URL the request came to.
        seed: Makes task ids and timings repeat from run to run.
        log_level: uvicorn's log level.
        state_file: A SQLite file for the tasks, the journal and the clock, shared by every worker
            and kept across restarts; ``None`` keeps them in memory.
        workers: How many processes serve; more than one needs a state file (a temporary one is
            made when none is given).
        nulls: What ``null`` means in an optional field whose schema does not allow it; the docs
            type some optional fields ``string | null`` and others plain ``string`` without saying.
            ``refuse`` (the default): the schema refuses it, 400. ``absent``: a ``null`` in any
            top-level field that is not required is read as if the field were not sent (it takes
            its default, even where the schema allows ``null``); a required field keeps its
            ``null``, for its schema to judge.
        shot_field: Which spelling of the shot type is read; the page's schema and curl sample say
            ``shot_type``, its prose and multi-shot example ``multi_shots``. ``both`` (the default):
            both are validated, and ``shot_type`` wins when both are sent. ``shot_type`` or
            ``multi_shots``: only that one is validated and honoured; the other is an unknown
            field, ignored like any other (any value passes, none has an effect). The spec served
            under ``/__mock`` leaves the ignored one out.
        image_checks: How much of a Base64 image is checked; the docs do not say whether a file cut
            short is refused. ``full`` (the default): the file must be complete. ``header``: only
            what the header shows (format, size in pixels, size in bytes) and PNG transparency,
            which a PNG cut short is given the benefit of; a file cut short after a sound header
            is accepted (but not a WEBP, whose decoder opens only a complete file).
        video: What a succeeded task's video is. ``rendered`` (the default): made from its own request
            (its length, first and last frames, shots and sound), in a process of its own, ahead of
            the download. ``fixed``: one bundled file for every task (1920x1080, 5 s, with sound),
            with no rendering at all.
        video_cache: How many renderings are kept on disk (the least recently used go first); with a
            state file, in a directory beside it (``<state file>-videos``), kept across restarts.
        webhook_urls: Endpoints that receive every event (``task.created``, ``task.succeeded``,
            ``task.failed``, ``balance.low``), at most as many as the spec's ``x-webhook-endpoints``
            allows (checked in ``create_app``); the admin API adds more at run time.
        webhook_secret: Their ``whsec_...`` signing secret (needed with ``webhook_urls``; also the
            secret of endpoints the admin API adds without one). Never shown.
        webhook_signature_encoding: How the signature's digest is written, which the docs do not
            say: ``hex`` or ``base64``; ``None`` (the default) takes the spec's reading
            (``x-webhook-signature``: hex).
        webhook_key: Which part of the secret is the HMAC key, which the docs do not say: ``whole``
            (the ``whsec_...`` string as it is), ``after-prefix`` (what follows ``whsec_``) or
            ``after-prefix-base64`` (that part Base64-decoded, as Svix reads it); ``None`` (the
            default) takes the spec's reading (``x-webhook-signature``: whole).
        webhook_retries: Further attempts after a delivery got no 2xx (or no answer in time).
        webhook_backoff: Seconds before the first retry; each further one waits twice as long
            (1, 2, 4 s by default; a test sets 0.01).
        webhook_timeout: Seconds one attempt may take before it counts as failed.
        webhook_log_size: Delivery attempts ``GET /__mock/webhooks`` keeps (oldest dropped first).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    speed: float = 1.0
    vocabulary: Vocabulary = "guide"
    error_placement: ErrorPlacement = "task_info"
    timestamps: TimestampStyle = "seconds"
    # repr=False: settings get logged, keys must not be.
    api_keys: frozenset[str] = field(default_factory=frozenset, repr=False)
    scenario: str | None = None
    latency: str | None = None
    journal_size: int = 1000
    max_tasks: int = 100_000
    max_body_bytes: int = 32 * 1024 * 1024
    read_timeout: float = 30.0
    public_url: str | None = None
    seed: int | None = None
    log_level: LogLevel = "info"
    state_file: Path | None = None
    workers: int = 1
    nulls: NullReading = "refuse"
    shot_field: ShotField = "both"
    image_checks: ImageChecks = "full"
    video: VideoSource = "rendered"
    video_cache: int = 100
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = field(default=None, repr=False)
    # None: the spec's reading (x-webhook-signature), resolved by create_app against the spec it runs.
    webhook_signature_encoding: Encoding | None = None
    webhook_key: KeyReading | None = None
    webhook_retries: int = 3
    webhook_backoff: float = 1.0
    webhook_timeout: float = 10.0
    webhook_log_size: int = 1000

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be between 0 and 65535, got {self.port}")
        if not (math.isfinite(self.speed) and MIN_SPEED <= self.speed <= MAX_SPEED):
            raise SettingsError(
                f"speed must be a positive number from {MIN_SPEED:g} to {MAX_SPEED:g}, got {self.speed}"
            )
        _check_choice("log_level", self.log_level, LogLevel)
        _check_choice("error_placement", self.error_placement, ErrorPlacement)
        _check_choice("timestamps", self.timestamps, TimestampStyle)
        _check_choice("nulls", self.nulls, NullReading)
        _check_choice("shot_field", self.shot_field, ShotField)
        _check_choice("image_checks", self.image_checks, ImageChecks)
        _check_choice("video", self.video, VideoSource)
        if not 1 <= self.video_cache <= MAX_VIDEO_CACHE:
            raise SettingsError(f"video_cache must be between 1 and {MAX_VIDEO_CACHE}, got {self.video_cache}")
        if not (math.isfinite(self.read_timeout) and 0 < self.read_timeout <= MAX_READ_TIMEOUT):
            raise SettingsError(f"read_timeout must be a number of seconds above 0, at most {MAX_READ_TIMEOUT:g}")
        for name in ("journal_size", "max_tasks", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError(f"public_url must be an http(s) URL, got {self.public_url!r}")
        if any(not key or any(c.isspace() for c in key) or "," in key for key in self.api_keys):
            raise SettingsError("api_keys must be non-empty tokens without spaces or commas")
        if ANY_KEY in self.api_keys and len(self.api_keys) > 1:
            raise SettingsError(f"api_keys: {ANY_KEY!r} (any well-formed token) goes alone")
        try:
            latencies(self.latency or "", OPERATIONS)
        except ScenarioError as exc:
            raise SettingsError(f"latency: {exc}") from None
        if not 1 <= self.workers <= MAX_WORKERS:
            raise SettingsError(f"workers must be between 1 and {MAX_WORKERS}, got {self.workers}")
        self._check_webhooks()

    def _check_webhooks(self) -> None:
        if self.webhook_signature_encoding is not None:
            _check_choice("webhook_signature_encoding", self.webhook_signature_encoding, Encoding)
        if self.webhook_key is not None:
            _check_choice("webhook_key", self.webhook_key, KeyReading)
        # Only the URLs' shape here: how many, and how long, are the spec's to say (checked in create_app).
        for url in self.webhook_urls:
            problem = url_problem(url) or (
                "a webhook URL here has no comma (commas separate them)" if "," in url else None
            )
            if problem is not None:
                raise SettingsError(f"webhook_urls: {problem}, got {url[:100]!r}")
        if self.webhook_urls and self.webhook_secret is None:
            raise SettingsError("webhook_urls need webhook_secret (MOCK_WEBHOOK_SECRET=whsec_...) to sign with")
        if self.webhook_secret is not None:
            try:
                check_secret(self.webhook_secret)  # what every reading asks; the reading's own, once it is known
                if self.webhook_key is not None:
                    signing_key(self.webhook_secret, self.webhook_key)
            except ValueError as exc:  # the message never shows the secret
                raise SettingsError(f"webhook_secret: {exc}") from None
        if not 0 <= self.webhook_retries <= MAX_WEBHOOK_RETRIES:
            raise SettingsError(f"webhook_retries must be between 0 and {MAX_WEBHOOK_RETRIES}")
        if not (math.isfinite(self.webhook_backoff) and 0 <= self.webhook_backoff <= MAX_WEBHOOK_BACKOFF):
            raise SettingsError(f"webhook_backoff must be a number of seconds from 0 to {MAX_WEBHOOK_BACKOFF:g}")
        if not (math.isfinite(self.webhook_timeout) and 0 < self.webhook_timeout <= MAX_WEBHOOK_TIMEOUT):
            raise SettingsError(f"webhook_timeout must be a number of seconds above 0, at most {MAX_WEBHOOK_TIMEOUT:g}")
        if self.webhook_log_size < 1:
            raise SettingsError(f"webhook_log_size must be at least 1, got {self.webhook_log_size}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from ``MOCK_*`` variables; ``overrides`` (e.g. CLI options) win.

        Raises:
            SettingsError: a variable cannot be parsed, or its value is out of range.
        """
        parsers: dict[str, Callable[[str], Any]] = {
            "port": int,
            "speed": float,
            "read_timeout": float,
            "journal_size": int,
            "max_tasks": int,
            "max_body_bytes": int,
            "seed": int,
            "workers": int,
            "video_cache": int,
            "state_file": Path,
            "api_keys": lambda raw: frozenset(k.strip() for k in raw.split(",") if k.strip()),
            "webhook_urls": lambda raw: tuple(u.strip() for u in raw.split(",") if u.strip()),
            "webhook_retries": int,
            "webhook_backoff": float,
            "webhook_timeout": float,
            "webhook_log_size": int,
        }
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = parsers.get(f.name, str)(raw.strip())
            except ValueError:
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {f.name}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """``MOCK_*`` variables that rebuild these settings in another process (a worker)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, frozenset):
                text = ",".join(sorted(value))
            elif isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = str(value)
            env[ENV_PREFIX + f.name.upper()] = text
        return env


def webhook_readings(settings: Settings, signing: WebhookSigning) -> tuple[Encoding, KeyReading]:
    """How the mock signs its webhooks: the readings ``settings`` names, and the spec's
    (``x-webhook-signature``) where it names none.

    Raises:
        SettingsError: ``webhook_secret`` cannot be a key under the reading taken (it never shows the secret).
    """
    encoding = signing.encoding if settings.webhook_signature_encoding is None else settings.webhook_signature_encoding
    key = signing.key if settings.webhook_key is None else settings.webhook_key
    if settings.webhook_secret is not None:
        try:
            signing_key(settings.webhook_secret, key)
        except ValueError as exc:  # the message never shows the secret
            raise SettingsError(f"webhook_secret: {exc}") from None
    return encoding, key


def _check_choice(name: str, value: T, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
