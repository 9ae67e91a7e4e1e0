"""The pytest plugin of a contract run: it owns the target, the task plan and budget, the ledger of
findings and the report, sets Hypothesis up, and turns each test's outcome into report entries.
The fixtures are in suite_fixtures.py."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from hypothesis import HealthCheck, Phase, settings

from contract_tests.budget import BudgetExhausted, TaskBudget, drawing_from
from contract_tests.config import RunConfig, activate
from contract_tests.findings import Finding, Inconclusive, Ledger
from contract_tests.run_report import RunReport, TestResult
from contract_tests.schemathesis_bridge import register_formats
from contract_tests.target import Target, TargetUnreachable
from contract_tests.task_plan import plan_for
from mockserver import WebhookReceiver
from sparkspec.openapi import ApiSpec

HYPOTHESIS_PROFILE = "contract"
PLUGIN = pytest.StashKey["ContractPlugin"]()
# ``@pytest.mark.tasks("lifecycle")``: the share of the task plan a test's creates count against.
SHARE_MARKER = "tasks"


class ContractPlugin:
    """Registered by the runner for one run; owns the target, the task budget and the report."""

    def __init__(self, config: RunConfig, receiver: WebhookReceiver | None = None) -> None:
        if config.base_url is None:
            raise ValueError("the plugin needs a concrete target URL")
        self.config = config
        self.receiver = receiver  # the target's webhooks, when the run checks them
        self._spec = ApiSpec.load()
        self.plan = plan_for(config.profile, config.max_tasks, webhooks=config.webhook_listen is not None)
        self.budget = TaskBudget(config.max_tasks, self.plan.limits)
        self.ledger = Ledger(strict=config.strict, remember=not self.shrinks)
        self.report = RunReport(config, self.budget, self.plan)
        self._target = Target(config.base_url, config.api_key, self.budget, self._spec, config.request_timeout)

    @property
    def shrinks(self) -> bool:
        """Whether Hypothesis looks for a simpler failing example. Each step may be a billed task, so only
        against the bundled mock: elsewhere the first failing example is the one reported."""
        return self.config.bundled and self.config.profile.shrink

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[PLUGIN] = self
        config.addinivalue_line("markers", f"{SHARE_MARKER}(share): the task plan's share the test draws from")
        activate(self.config)
        register_formats(self._spec)
        phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if self.shrinks else [])
        settings.register_profile(
            HYPOTHESIS_PROFILE,
            deadline=None,
            database=None,
            derandomize=self.config.profile.derandomize,
            suppress_health_check=list(HealthCheck),
            max_examples=self.config.profile.invalid_examples,
            phases=phases,
            print_blob=False,
            report_multiple_bugs=False,
        )
        settings.load_profile(HYPOTHESIS_PROFILE)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Schemathesis 4 names each operation's test "test[POST /path]" but gives pytest 9 the bare test
        # name to build its id from: the operations of a test shared one id, so the report and the
        # findings could not tell them apart, and pytest's progress stopped short of 100 %. Each gets
        # the id of its name, as any parametrized test has.
        for item in items:
            if not item.nodeid.endswith("::" + item.name) and item.parent is not None:
                item._id = item.parent.id.child(item.name)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.report.requests_sent = self._target.sent
        self.report.creates_sent = self._target.creates
        self._target.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        marker = item.get_closest_marker(SHARE_MARKER)
        self.ledger.current = item.nodeid
        with drawing_from(str(marker.args[0]) if marker else None):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when in ("setup", "teardown") and report.outcome == "passed":
            return report
        excinfo = call.excinfo
        leaves = _leaves(excinfo.value) if excinfo is not None else []
        failing = self.ledger.failing(item.nodeid)
        budget_stops = [exc for exc in leaves if isinstance(exc, BudgetExhausted)]
        if excinfo is not None and budget_stops and len(budget_stops) == len(leaves) and not failing:
            # Not a verdict on the target: the run was not allowed to create the task it needed.
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {budget_stops[0]}")
        # A failure recorded while the test ran is never lost, whatever stopped the test afterwards.
        outcome = "failed" if failing else report.outcome
        if report.when == "call" or outcome != "passed":
            found = self.ledger.of(item.nodeid) if report.when == "call" or outcome == "failed" else []
            self.report.add(_result(item.nodeid, outcome, found, bool(failing), leaves, report))
        return report

    @property
    def spec(self) -> ApiSpec:
        return self._spec

    @property
    def target(self) -> Target:
        return self._target


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _result(
    test: str,
    outcome: str,
    found: list[Finding],
    failing: bool,
    leaves: list[BaseException],
    report: pytest.TestReport,
) -> TestResult:
    if outcome == "failed" and report.when != "call":
        outcome = "error"
    message = ""
    if outcome == "skipped" and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif outcome in ("failed", "error") and not failing:
        unreachable = [exc for exc in leaves if isinstance(exc, TargetUnreachable)]
        inconclusive = [exc for exc in leaves if isinstance(exc, Inconclusive)]
        if unreachable:
            outcome = "error"
            message = f"the target did not answer: {unreachable[0]}"
        elif inconclusive:
            outcome = "error"
            message = str(inconclusive[0])
        else:
            message = "; ".join(f"{type(exc).__name__}: {exc}" for exc in leaves)[:1000] or report.longreprtext[-1000:]
    return TestResult(test, outcome, found, message)
