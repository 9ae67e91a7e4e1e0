"""How a contract run is configured: one frozen dataclass, read from the environment in one place.

The interface is the one the README documents: ``BASE_URL``, ``API_KEY``, ``MAX_TASKS``,
``TASK_TIMEOUT``, ``PROFILE``, ``POLL_INTERVAL``, ``REPORT_DIR``, ``STRICT``, and for webhooks
``WEBHOOK_LISTEN`` and ``WEBHOOK_SECRET``. The key and the secret are only ever read from the
environment, never from an argument, so they stay out of shell history and process lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from contract_tests.target import usable_key
from sparkspec.webhook_signature import signing_key


class ConfigError(ValueError):
    """A setting of the run cannot be used. The message names it."""


@dataclass(frozen=True, slots=True)
class Profile:
    """How hard a run tries: examples per property, and how many tasks it follows to the end.

    Attributes:
        name: ``smoke``, ``default`` or ``full``.
        valid_examples: Hypothesis examples for each generated edge that must be accepted (each one is a task).
        invalid_examples: Hypothesis examples for each edge that must be rejected.
        schemathesis_examples: Schemathesis' negative cases per operation (each one refused: no task).
        stateful_examples: Schemathesis create -> poll scenarios.
        lifecycle_tasks: Tasks followed from create to their end.
        derandomize: Run the same examples every time (CI wants that; ``full`` explores).
        shrink: Look for the simplest failing example (only ever against the bundled mock).
        positive_examples: Schemathesis' positive cases per operation (each create one is a task).
        mistakes: Tasks each part may spend on invalid requests that the target accepts all the same.
    """

    name: str
    valid_examples: int
    invalid_examples: int
    schemathesis_examples: int
    stateful_examples: int
    lifecycle_tasks: int
    derandomize: bool
    shrink: bool = True
    positive_examples: int = 20
    mistakes: int = 4


PROFILES = {
    "smoke": Profile("smoke", 1, 3, 5, 3, 2, True, shrink=False, positive_examples=3, mistakes=2),
    "default": Profile("default", 3, 25, 100, 5, 6, True, positive_examples=15, mistakes=4),
    "full": Profile("full", 10, 100, 300, 40, 12, False, positive_examples=60, mistakes=10),
}

# A run against something other than the bundled mock may be paying per task: unless MAX_TASKS
# says otherwise, it stops creating after this many accepted tasks.
DEFAULT_EXTERNAL_MAX_TASKS = 200


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a contract run needs to know.

    Attributes:
        base_url: The target; ``None`` runs against the bundled mock, started for the run.
        api_key: The bearer token for the target (never printed).
        max_tasks: How many tasks the run may have accepted, ``None`` for no cap.
        task_timeout: Seconds one task may take to finish before it counts as never finishing.
        poll_interval: Seconds between two polls of a task.
        profile: How many examples to run.
        report_dir: Where the JUnit XML, Markdown and JSON reports go.
        request_timeout: Seconds one HTTP request may take.
        bundled: The target is the bundled mock, started for the run.
        strict: Deviations (a disputed or assumed rule broken) fail the run, as violations do.
        webhook_listen: ``host:port`` where the run receives the target's webhooks (``None``: they are
            not checked). The bundled mock is told to send there; any other target must have the
            endpoint registered (in MuleRouter's console, for the live API).
        webhook_secret: The endpoint's ``whsec_...`` signing secret (never printed).
    """

    base_url: str | None
    api_key: str = field(repr=False)
    max_tasks: int | None
    task_timeout: float = 900.0
    poll_interval: float = 1.0
    profile: Profile = PROFILES["default"]
    report_dir: Path = Path("reports/contract")
    request_timeout: float = 60.0
    bundled: bool = False
    strict: bool = False
    webhook_listen: tuple[str, int] | None = None
    webhook_secret: str = field(default="", repr=False)

    @property
    def target_name(self) -> str:
        if self.base_url is None:
            return "the bundled mock"
        return f"the bundled mock at {self.base_url}" if self.bundled else self.base_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, need_key: bool = True, **overrides: Any) -> RunConfig:
        """Read the run's settings; ``overrides`` (command-line options) win over the environment.

        ``need_key`` false reads them for a run that sends nothing (``--plan``): no key is needed.

        Raises:
            ConfigError: a value cannot be parsed or is out of range.
        """
        values: dict[str, Any] = {
            "base_url": environ.get("BASE_URL") or None,
            "max_tasks": environ.get("MAX_TASKS") or None,
            "task_timeout": environ.get("TASK_TIMEOUT") or None,
            "poll_interval": environ.get("POLL_INTERVAL") or None,
            "profile": environ.get("PROFILE") or None,
            "report_dir": environ.get("REPORT_DIR") or None,
            "strict": environ.get("STRICT") or None,
            "webhook_listen": environ.get("WEBHOOK_LISTEN") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        base_url = values["base_url"]
        if base_url is not None:
            base_url = str(base_url).rstrip("/")
            if not base_url.startswith(("http://", "https://")):
                raise ConfigError(f"BASE_URL must be an http(s) URL, got {base_url!r}")
        api_key = environ.get("API_KEY", "").strip()
        if base_url is not None and not api_key and need_key:
            raise ConfigError("API_KEY is not set: the target needs a bearer token (set it in the environment)")
        if api_key and not usable_key(api_key):
            raise ConfigError("API_KEY cannot be sent as a bearer token: it must be printable ASCII without spaces")
        profile_name = str(values["profile"] or "default")
        if profile_name not in PROFILES:
            raise ConfigError(f"PROFILE must be one of {', '.join(PROFILES)}, got {profile_name!r}")
        default_cap = None if base_url is None else DEFAULT_EXTERNAL_MAX_TASKS
        listen = parse_listen(values["webhook_listen"])
        webhook_secret = environ.get("WEBHOOK_SECRET", "").strip()
        if webhook_secret:
            try:
                signing_key(webhook_secret)
            except ValueError as exc:  # never shows the secret
                raise ConfigError(f"WEBHOOK_SECRET: {exc}") from None
        if listen is not None and base_url is not None and not webhook_secret and need_key:
            raise ConfigError(
                "WEBHOOK_LISTEN needs WEBHOOK_SECRET, the endpoint's whsec_... secret (in the environment)"
            )
        return cls(
            base_url=base_url,
            api_key=api_key,
            max_tasks=parse_number("MAX_TASKS", values["max_tasks"], int, default=default_cap, minimum=0),
            task_timeout=parse_number("TASK_TIMEOUT", values["task_timeout"], float, default=900.0, minimum=0.1),
            # The bundled mock runs tasks in about a second; a real API takes minutes.
            poll_interval=parse_number(
                "POLL_INTERVAL", values["poll_interval"], float, default=0.1 if base_url is None else 5.0, minimum=0.0
            ),
            profile=PROFILES[profile_name],
            report_dir=Path(values["report_dir"] or "reports/contract"),
            strict=parse_flag("STRICT", values["strict"]),
            webhook_listen=listen,
            webhook_secret=webhook_secret,
        )

    def with_target(self, base_url: str, api_key: str, *, bundled: bool = False) -> RunConfig:
        return replace(self, base_url=base_url, api_key=api_key, bundled=bundled)


def parse_number(
    name: str, raw: Any, kind: type, *, default: Any, minimum: float, error: type[ValueError] = ConfigError
) -> Any:
    """``raw`` as a ``kind`` of at least ``minimum``; ``default`` when unset or empty; else ``error``, naming it."""
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise error(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < minimum:
        raise error(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def parse_listen(raw: Any) -> tuple[str, int] | None:
    """``WEBHOOK_LISTEN``: ``host:port`` (``[::1]:9000`` for IPv6); ``None`` when unset."""
    if raw is None or raw == "":
        return None
    host, _, port = str(raw).strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ConfigError(f"WEBHOOK_LISTEN must be host:port with a port from 1 to 65535, got {raw!r}")
    return host, int(port)


def parse_flag(name: str, raw: Any, error: type[ValueError] = ConfigError) -> bool:
    """A yes/no setting: 1, true, yes or on; 0, false, no, off or empty; anything else is an ``error``."""
    if isinstance(raw, bool):
        return raw
    text = "" if raw is None else str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise error(f"{name} must be 1 or 0 (yes or no), got {raw!r}")


_active: RunConfig | None = None


def activate(config: RunConfig) -> None:
    """Make ``config`` the run's configuration; the suites read it when pytest imports them."""
    global _active
    _active = config


def active() -> RunConfig:
    """The configuration of the run in progress."""
    if _active is None:
        raise ConfigError("no contract run is in progress: start one with `spark-contract` or `make contract`")
    return _active
