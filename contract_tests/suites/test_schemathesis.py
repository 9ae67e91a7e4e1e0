"""Schemathesis, driven by the spec: positive and negative cases for each operation, every response
checked for status, content type, headers and schema; and a stateful create -> poll run that follows
the spec's link."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import settings
from schemathesis.config import SchemathesisConfig

from contract_tests.checks import Verdicts
from contract_tests.config import active
from contract_tests.schemathesis_bridge import CHECKS, STATEFUL_CHECKS, Sent, send_case, violations_of
from contract_tests.target import Target
from contract_tests.violations import raise_if_any
from mockserver.spec import ApiSpec

CONFIG = active()
# Loaded at import (the run's target is known by then), not through schemathesis.pytest.from_fixture.
# The coverage phase is off: its boundary values are what test_constraints.py pins, derived from the
# spec edge by edge, and building them for this spec takes Schemathesis 20 s before the first request.
# Examples, fuzzing (positive and negative) and the stateful run stay on.
SETTINGS = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(ApiSpec.load().localized(CONFIG.base_url or "/"), config=SETTINGS)
schema.config.update(base_url=CONFIG.base_url)


@schema.parametrize()
@settings(max_examples=CONFIG.profile.schemathesis_examples)
def test_every_operation_conforms(case: Any, target: Target, verdicts: Verdicts) -> None:
    sent = send_case(target, case)
    # A 429 (or a 401 to the run's own key) conforms to the spec, and says nothing about the case.
    verdicts.require_judged(sent.exchange, "a Schemathesis case", with_our_key=sent.with_our_key)
    raise_if_any(violations_of(case, sent.response, sent.exchange, CHECKS))


def test_create_then_poll_by_the_link(target: Target, verdicts: Verdicts) -> None:
    steps: list[Sent] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            steps.append(send_case(target, case))
            return steps[-1].response

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            last = steps[-1]
            verdicts.require_judged(last.exchange, "a step of the create -> poll run", with_our_key=last.with_our_key)
            raise_if_any(violations_of(case, response, last.exchange, STATEFUL_CHECKS))

    Workflow.run(settings=settings(max_examples=CONFIG.profile.stateful_examples, stateful_step_count=4))
