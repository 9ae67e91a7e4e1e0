"""Run the contract suites against a target and write the reports.

With no target URL, the runner starts the bundled mock for the run (tasks finish in about a
second) and stops it afterwards. Everything goes through pytest, with :class:`ContractPlugin`.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from contract_tests.config import RunConfig
from contract_tests.plugin import ContractPlugin
from contract_tests.run_report import EXIT_USAGE
from mockserver import launch
from sparkspec.redaction import mask

SUITES = Path(__file__).resolve().parent / "suites"
# How much faster than real time the bundled mock runs: a 1.5-3.5 minute task takes about a second.
BUNDLED_MOCK_SPEED = 200


def run(config: RunConfig, pytest_args: Sequence[str] = (), *, echo: bool = True) -> tuple[int, ContractPlugin]:
    """Run the suites; return the exit code and the plugin that holds the report."""
    with _target(config) as concrete:
        plugin = ContractPlugin(concrete)
        junit = concrete.report_dir / "junit.xml"
        concrete.report_dir.mkdir(parents=True, exist_ok=True)
        args = [str(SUITES), "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES)]
        args += ["-p", "no:cacheprovider", "-p", "contract_tests.suite_fixtures", "--tb=no", "-q" if echo else "-qq"]
        args += [f"--junitxml={junit}", *pytest_args]
        code = pytest.main(args, plugins=[plugin])
    report = plugin.report
    report.finished = time.monotonic()
    _mask_file(junit, concrete.api_key)
    markdown, machine = report.write(concrete.report_dir)
    for path in (markdown, machine):
        _mask_file(path, concrete.api_key)
    if echo:
        sys.stdout.write(mask(report.summary(), concrete.api_key) + "\n")
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
    with launch("--speed", str(BUNDLED_MOCK_SPEED), "--log-level", "warning", env=env) as mock:
        yield config.with_target(mock.url, key, bundled=True)


def _mask_file(path: Path, key: str) -> None:
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        masked = mask(text, key)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def selected(expression: str) -> list[str]:
    """pytest arguments that select suites by a ``-k`` expression."""
    return ["-k", expression] if expression and re.search(r"\S", expression) else []
