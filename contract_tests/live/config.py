"""How a live run is configured, read from the environment in one place.

The key comes only from ``MULEROUTER_API_KEY``: never from an argument, so it stays out of shell
history and process lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract_tests.config import parse_flag, parse_number
from contract_tests.target import usable_key

DEFAULT_BASE_URL = "https://api.mulerouter.ai"
# The only public price for wan2.6-i2v-spark is a third-party table: $0.05 per second of output video.
DEFAULT_PRICE_PER_SECOND = 0.05
KEY_VARIABLE = "MULEROUTER_API_KEY"


class LiveConfigError(ValueError):
    """A setting of the live run cannot be used. The message names it (never the key)."""


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Everything a live run needs.

    Attributes:
        base_url: The API; the public MuleRouter API unless ``BASE_URL`` says otherwise.
        api_key: The bearer token (never printed; masked wherever it could appear).
        allow_spend: Dollars the run may spend on generations it means to pay for (0: none). Without
            ``ALLOW_SPEND`` it is 0, unless ``ALLOW_TASKS`` is set: then it is unlimited (``inf``),
            and the task count is the limit.
        allow_tasks: Paid generations the run may create, if ``ALLOW_TASKS`` is set.
        price_per_second: The cost model: dollars per second of output video.
        dry_run: Print the plan and the worst-case spend; send nothing.
        rate: Requests per second the run sends at most.
        max_retries: How many times a 429 or 5xx answer is retried.
        max_accidents: Requests that must be rejected that may be accepted (and charged) before the
            run stops sending them.
        task_timeout: Seconds a paid task may take to finish.
        poll_interval: Seconds between polls of a paid task.
        report_dir: Where the reports and the audit log go.
        record: Where to write a cassette of the run, or ``None``.
        strict: Deviations (a target taking another reading of a disputed or assumed rule) fail the run.
    """

    base_url: str
    api_key: str = field(repr=False)
    allow_spend: float = 0.0
    allow_tasks: int | None = None
    price_per_second: float = DEFAULT_PRICE_PER_SECOND
    dry_run: bool = False
    rate: float = 2.0
    max_retries: int = 3
    max_accidents: int = 1
    task_timeout: float = 900.0
    poll_interval: float = 10.0
    report_dir: Path = Path("reports/live")
    record: Path | None = None
    strict: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> LiveConfig:
        """Read the settings; ``overrides`` (command-line options) win.

        Raises:
            LiveConfigError: the key is missing, or a value cannot be used.
        """
        values = {k: v for k, v in overrides.items() if v is not None}
        dry_run = _flag(values.get("dry_run", environ.get("DRY_RUN", "")))
        api_key = environ.get(KEY_VARIABLE, "").strip()
        if not api_key and not dry_run:
            raise LiveConfigError(
                f"{KEY_VARIABLE} is not set. Export your MuleRouter API key in that variable (it is never "
                "taken as an argument), or set DRY_RUN=1 to see the plan without sending anything."
            )
        if api_key and not usable_key(api_key):
            raise LiveConfigError(f"{KEY_VARIABLE} cannot be sent as a bearer token: printable ASCII without spaces")
        base_url = str(values.get("base_url") or environ.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise LiveConfigError(f"BASE_URL must be an http(s) URL, got {base_url!r}")
        allow_tasks = _number("ALLOW_TASKS", values.get("allow_tasks", environ.get("ALLOW_TASKS")), int, None, 0)
        # ALLOW_TASKS on its own is a limit on its own: the run may make that many paid generations.
        no_money_cap = math.inf if allow_tasks is not None else 0.0
        record = values.get("record", environ.get("RECORD"))
        return cls(
            base_url=base_url,
            api_key=api_key,
            allow_spend=_number(
                "ALLOW_SPEND", values.get("allow_spend", environ.get("ALLOW_SPEND")), float, no_money_cap, 0
            ),
            allow_tasks=allow_tasks,
            price_per_second=_number(
                "PRICE_PER_SECOND",
                values.get("price", environ.get("PRICE_PER_SECOND")),
                float,
                DEFAULT_PRICE_PER_SECOND,
                0,
            ),
            dry_run=dry_run,
            rate=_number("RATE", values.get("rate", environ.get("RATE")), float, 2.0, 0.01),
            max_retries=_number("MAX_RETRIES", values.get("max_retries", environ.get("MAX_RETRIES")), int, 3, 0),
            max_accidents=_number("MAX_ACCIDENTS", environ.get("MAX_ACCIDENTS"), int, 1, 0),
            task_timeout=_number(
                "TASK_TIMEOUT", values.get("task_timeout", environ.get("TASK_TIMEOUT")), float, 900.0, 1
            ),
            poll_interval=_number(
                "POLL_INTERVAL", values.get("poll_interval", environ.get("POLL_INTERVAL")), float, 10.0, 0
            ),
            report_dir=Path(values.get("report_dir") or environ.get("REPORT_DIR") or "reports/live"),
            record=_record_path(record),
            strict=parse_flag("STRICT", values.get("strict", environ.get("STRICT")), LiveConfigError),
        )


def _flag(raw: Any) -> bool:
    return str(raw).strip().lower() in ("1", "true", "yes", "on") if not isinstance(raw, bool) else raw


def _record_path(raw: Any) -> Path | None:
    if raw in (None, "", "0", False):
        return None
    if _flag(raw):
        return Path("fixtures/cassettes")  # a directory: the file name gets the date
    return Path(str(raw))


def _number(name: str, raw: Any, kind: type, default: Any, minimum: float) -> Any:
    return parse_number(name, raw, kind, default=default, minimum=minimum, error=LiveConfigError)
