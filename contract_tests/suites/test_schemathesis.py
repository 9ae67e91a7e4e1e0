"""Schemathesis, driven by the spec: positive and negative cases for each operation, every response
checked for status, content type, headers and schema; and a stateful create -> poll run that follows
the spec's link.

Positive cases are drawn from the request schema narrowed to what every reading of the docs accepts,
and negative cases from the schema with only the documented rules kept
(:mod:`contract_tests.readings`): a refused positive case, or an accepted negative one, is a
violation of the docs, never a reading's choice. Responses are held to the documented rules too;
the other suites report deviations from the contract's full reading.

These cases are generated, so their tasks come from shares of their own: when a share is used, the
remaining cases are not sent (the report counts them), and the run is not incomplete for it.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from contract_tests.budget import BudgetExhausted, drawing_from
from contract_tests.config import active
from contract_tests.readings import accepted_everywhere, documented_only
from contract_tests.schemathesis_bridge import (
    NEGATIVE_CHECKS,
    POSITIVE_CHECKS,
    STATEFUL_CHECKS,
    Sent,
    case_key,
    send_case,
    violations_of,
)
from contract_tests.target import Target
from contract_tests.task_plan import active_plan
from contract_tests.verdicts import Verdicts
from sparkspec.openapi import ApiSpec

CONFIG = active()
SPEC = ApiSpec.load()
PLAN = active_plan()


def _load(document: dict[str, Any], mode: str) -> Any:
    # Loaded at import (the run's target is known by then), not through schemathesis.pytest.from_fixture.
    # The coverage phase is off: its boundary values are what test_constraints.py pins, derived from the
    # spec edge by edge, and building them for this spec takes Schemathesis 20 s before the first request.
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}, "generation": {"mode": mode}})
    schema = schemathesis.openapi.from_dict(ApiSpec(document).localized(CONFIG.base_url or "/"), config=config)
    schema.config.update(base_url=CONFIG.base_url)
    return schema


POSITIVE = _load(accepted_everywhere(SPEC), "positive")
NEGATIVE = _load(documented_only(SPEC), "negative")


def _check(case: Any, target: Target, verdicts: Verdicts, checks: list[Any]) -> None:
    key = case_key(case)
    if verdicts.settled(key):
        return  # judged already: Hypothesis replays a failing case, which is not sent again
    try:
        sent = send_case(target, case)
    except BudgetExhausted:
        return  # this part's share is used: the case is not sent (the report counts it)
    # A 429 (or a 401 to the run's own key) conforms to the spec, and says nothing about the case.
    verdicts.require_judged(sent.exchange, "a Schemathesis case", with_our_key=sent.with_our_key)
    verdicts.settle(violations_of(case, sent.response, sent.exchange, checks), key=key)


@pytest.mark.tasks("schemathesis.positive")
@POSITIVE.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=PLAN.positive_examples)
def test_valid_cases_are_accepted_and_conform(case: Any, target: Target, verdicts: Verdicts) -> None:
    _check(case, target, verdicts, POSITIVE_CHECKS)


@pytest.mark.tasks("schemathesis.mistakes")
@NEGATIVE.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=CONFIG.profile.schemathesis_examples)
def test_invalid_cases_are_refused_and_conform(case: Any, target: Target, verdicts: Verdicts) -> None:
    if target.is_create(case.method, target.url(case.formatted_path)) and not _negative_body(case):
        return  # a create whose body is valid would be a task, and says nothing about invalid data
    _check(case, target, verdicts, NEGATIVE_CHECKS)


def _negative_body(case: Any) -> bool:
    return bool(case.meta and case.meta.is_negative_at(ParameterLocation.BODY))


@pytest.mark.tasks("stateful")
def test_create_then_poll_by_the_link(target: Target, verdicts: Verdicts) -> None:
    steps: list[Sent] = []

    class Workflow(POSITIVE.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            verdicts.settled(case_key(case))  # a step that failed already fails again, without a request
            steps.append(send_case(target, case))
            return steps[-1].response

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            last = steps[-1]
            verdicts.require_judged(last.exchange, "a step of the create -> poll run", with_our_key=last.with_our_key)
            verdicts.settle(violations_of(case, response, last.exchange, STATEFUL_CHECKS), key=case_key(case))

    with drawing_from("stateful"):
        try:
            Workflow.run(settings=settings(max_examples=PLAN.stateful_examples, stateful_step_count=3))
        except BudgetExhausted:
            return  # the workflows' share is used: the rest are not run (the report counts them)
