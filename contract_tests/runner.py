"""Run the contract suites against a target and write the reports.

With no target URL, the runner starts the bundled mock for the run (tasks finish in about a
second) and stops it afterwards. With ``WEBHOOK_LISTEN``, it receives the target's webhooks there for
the whole run (the bundled mock is told to send them there). Everything goes through pytest, with
:class:`ContractPlugin`.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from contract_tests.config import ConfigError, RunConfig
from contract_tests.plugin import ContractPlugin
from contract_tests.run_report import EXIT_USAGE
from mockserver import WebhookReceiver, launch
from sparkspec.redaction import mask

SUITES = Path(__file__).resolve().parent / "suites"
# How much faster than real time the bundled mock runs: a 1.5-3.5 minute task takes about a second.
BUNDLED_MOCK_SPEED = 200
WEBHOOK_SUITE = "test_webhooks.py"


def run(config: RunConfig, pytest_args: Sequence[str] = (), *, echo: bool = True) -> tuple[int, ContractPlugin]:
    """Run the suites; return the exit code and the plugin that holds the report.

    Raises:
        ConfigError: the webhook receiver cannot listen on ``WEBHOOK_LISTEN``.
    """
    with ExitStack() as stack:
        receiver = None
        if config.webhook_listen is not None:
            try:
                receiver = stack.enter_context(WebhookReceiver(None, *config.webhook_listen))
            except OSError as exc:
                raise ConfigError(f"cannot receive webhooks on WEBHOOK_LISTEN: {exc.strerror or exc}") from None
        concrete = stack.enter_context(_target(config))
        plugin = ContractPlugin(concrete, receiver)
        junit = concrete.report_dir / "junit.xml"
        concrete.report_dir.mkdir(parents=True, exist_ok=True)
        args = [str(SUITES), "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES)]
        args += ["-p", "no:cacheprovider", "-p", "contract_tests.suite_fixtures", "--tb=no", "-q" if echo else "-qq"]
        if receiver is None:  # the webhook suite runs only when asked for
            args += ["--ignore", str(SUITES / WEBHOOK_SUITE)]
        args += [f"--junitxml={junit}", *pytest_args]
        code = pytest.main(args, plugins=[plugin])
    report = plugin.report
    report.finished = time.monotonic()
    secrets_shown = (concrete.api_key, concrete.webhook_secret)
    _mask_file(junit, *secrets_shown)
    markdown, machine = report.write(concrete.report_dir)
    for path in (markdown, machine):
        _mask_file(path, *secrets_shown)
    if echo:
        sys.stdout.write(_masked(report.summary(), *secrets_shown) + "\n")
        sys.stdout.write(f"\nReports: {markdown}, {machine}, {junit}\n")
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_USAGE, plugin
    return report.exit_code, plugin


@contextmanager
def _target(config: RunConfig) -> Iterator[RunConfig]:
    if config.base_url is not None:
        yield config
        return
    key = f"sk-mr-contract-{secrets.token_hex(8)}"
    env = {"MOCK_API_KEYS": key, "MOCK_JOURNAL_SIZE": "100"}
    if config.webhook_listen is not None:
        # The bundled mock sends its webhooks to the run's receiver, signed with the run's secret.
        host, port = config.webhook_listen
        secret = config.webhook_secret or "whsec_" + secrets.token_hex(24)
        config = dataclasses.replace(config, webhook_secret=secret)
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
        env |= {"MOCK_WEBHOOK_URLS": f"http://{host}:{port}/", "MOCK_WEBHOOK_SECRET": secret}
    with launch("--speed", str(BUNDLED_MOCK_SPEED), "--log-level", "warning", env=env) as mock:
        yield config.with_target(mock.url, key, bundled=True)


def _masked(text: str, *secrets_shown: str) -> str:
    for secret in secrets_shown:
        if secret:
            text = mask(text, secret)
    return text


def _mask_file(path: Path, *secrets_shown: str) -> None:
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        masked = _masked(text, *secrets_shown)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def selected(expression: str) -> list[str]:
    """pytest arguments that select suites by a ``-k`` expression."""
    return ["-k", expression] if expression and re.search(r"\S", expression) else []
