"""The parts behind trustworthy verdicts, each on its own: the spec's readings, the response checker's
violations and deviations, the ledger, the task plan and the budget's shares."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contract_tests.boundaries import edges
from contract_tests.budget import BudgetExhausted, TaskBudget, drawing_from
from contract_tests.config import PROFILES
from contract_tests.conformance import ResponseChecker
from contract_tests.findings import ContractViolation, Finding, Ledger
from contract_tests.readings import accepted_everywhere, documented_only
from contract_tests.task_plan import plan_run
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenance

CREATE = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
TRACE = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "content-type": "application/json"}
BASE = {"prompt": "a cat", "image": "https://example.com/a.jpg"}
DETAIL = b'{"detail": "x"}'


def _request_validator(document: dict[str, Any]) -> Draft202012Validator:
    """The create's request schema, with the document's components beside it so that its $refs resolve."""
    return Draft202012Validator({**document["components"]["schemas"]["GenerationRequest"], **document})


@pytest.mark.parametrize(
    ("body", "refused_by_every_reading"),
    [
        ({**BASE, "prompt": "a" * 2001}, True),  # documented: maxLength 2000
        ({**BASE, "seed": -1}, True),
        ({**BASE, "duration": 7}, True),
        ({**BASE, "negative_prompt": None}, False),  # assumed: a server may read null as absent
        ({**BASE, "multi_shots": "triple"}, False),  # disputed: a server may ignore multi_shots
        ({**BASE, "shot_type": 5}, False),
        ({**BASE, "audio_url": "https://example.com/" + "a" * 9000}, False),  # assumed: 8 KB bound
        ({**BASE, "last_frame": None}, False),
    ],
)
def test_documented_only_keeps_exactly_the_rules_the_docs_state(
    spec: ApiSpec, body: dict[str, Any], refused_by_every_reading: bool
) -> None:
    contract = _request_validator(dict(spec.document))
    documented = _request_validator(documented_only(spec))
    assert not contract.is_valid(body)  # the contract refuses each of them
    assert documented.is_valid(body) is not refused_by_every_reading


@pytest.mark.parametrize(
    ("body", "accepted_by_every_reading"),
    [
        ({**BASE, "multi_shots": "multi"}, True),  # documented: the page's own example
        ({**BASE, "shot_type": None}, True),  # documented: enum<string> | null
        ({**BASE, "multi_shots": True}, False),  # an earlier CLI's boolean: the contract's reading only
        ({**BASE, "multi_shots": None}, False),
        ({**BASE, "safety_filter": True}, False),  # unknown fields: ignored only by assumption
    ],
)
def test_accepted_everywhere_keeps_only_what_every_reading_takes(
    spec: ApiSpec, body: dict[str, Any], accepted_by_every_reading: bool
) -> None:
    assert _request_validator(dict(spec.document)).is_valid(body)  # the contract takes each of them
    assert _request_validator(accepted_everywhere(spec)).is_valid(body) is accepted_by_every_reading


def test_a_response_breaking_an_assumed_rule_is_a_deviation_and_a_documented_one_a_violation(spec: ApiSpec) -> None:
    checker = ResponseChecker(spec)
    other_shape = checker.problems("POST", CREATE, 400, TRACE, b'{"error": "prompt is too long"}')
    assert [(p.check, p.label.basis if p.label else None) for p in other_shape] == [("response.schema", "assumed")]
    assert other_shape[0].label is not None and "not documented" in other_shape[0].label.why
    undocumented_status = checker.problems("POST", CREATE, 422, TRACE, b'{"detail": "no"}')
    assert [(p.check, p.label) for p in undocumented_status] == [("response.status-documented", None)]
    no_trace = checker.problems("POST", CREATE, 400, {"content-type": "application/json"}, b'{"detail": "x"}')
    assert [(p.check, p.label) for p in no_trace] == [("response.headers", None)]
    no_allow = checker.problems("POST", CREATE, 405, TRACE, b'{"detail": "x"}')
    assert [p.label.basis if p.label else None for p in no_allow] == ["assumed"]
    assert checker.problems("POST", CREATE, 403, TRACE, b'{"detail": "no permission"}') == []  # on the docs' list


def _finding(basis: str) -> Finding:
    found = Finding("create.rejects-invalid", f"accepted ({basis})", "a 400", "202")
    label = Provenance("nullable", basis, why="the docs are silent") if basis != "documented" else None  # type: ignore[arg-type]
    return found.under(label)


def test_the_ledger_keeps_every_finding_and_fails_only_for_violations() -> None:
    ledger = Ledger()
    ledger.current = "test_a"
    ledger.settle([_finding("assumed")], key="edge-1")  # a deviation: recorded, not raised
    assert ledger.settled("edge-1") is True  # judged: its further examples are not sent
    with pytest.raises(ContractViolation):
        ledger.settle([_finding("documented")], key="edge-2")
    with pytest.raises(ContractViolation):  # replayed from memory, without a request
        ledger.settled("edge-2")
    ledger.settle([_finding("assumed")])  # the same finding again is kept once
    assert [f.basis for f in ledger.of("test_a")] == ["assumed", "documented"]
    assert [f.basis for f in ledger.failing("test_a")] == ["documented"]
    strict = Ledger(strict=True)
    with pytest.raises(ContractViolation):
        strict.settle([_finding("disputed")])


def test_a_shrinking_run_remembers_nothing() -> None:
    ledger = Ledger(remember=False)
    with pytest.raises(ContractViolation):
        ledger.settle([_finding("documented")], key="edge")
    assert ledger.settled("edge") is False


def test_the_plan_gives_the_priority_parts_theirs_first(spec: ApiSpec) -> None:
    small = plan_run(spec, PROFILES["default"], 30)
    assert small.limits["lifecycle"] == 6 and small.limits["images.valid"] == 12 and small.limits["auth"] == 2
    # One task for a documented-invalid request accepted anyway, so that such requests are sent under any cap.
    assert small.limits["constraints.mistakes"] == 1 and small.limits["schemathesis.mistakes"] == 1
    assert small.limits["constraints.valid"] == 8 and small.total == 30
    assert small.limits["stateful"] == 0 and small.valid_examples == 1
    default = plan_run(spec, PROFILES["default"], 200)
    assert default.total <= 0.8 * 200 and all(s.tasks == s.wanted for s in default.shares)
    valid_edges = sum(1 for e in edges(spec) if e.valid)
    assert default.limits["constraints.valid"] >= valid_edges and default.valid_examples == 3
    assert plan_run(spec, PROFILES["default"], None).limits == default.limits


def test_a_share_that_is_used_stops_only_its_own_creates() -> None:
    budget = TaskBudget(10, {"constraints.valid": 1, "lifecycle": 2})
    with drawing_from("constraints.valid"):
        budget.before_create()
        budget.after_create(202)
        with pytest.raises(BudgetExhausted, match=r"share of constraints\.valid"):
            budget.before_create()
    with drawing_from("lifecycle"):
        budget.before_create()
        budget.after_create(500)  # may have made a task: it counts
        budget.before_create()
        budget.after_create(202)
        with pytest.raises(BudgetExhausted, match="share of lifecycle"):  # its two are used
            budget.before_create()
    assert budget.by_share == {"constraints.valid": 1, "lifecycle": 2} and budget.accepted == 3
    assert budget.refused_by_share == {"constraints.valid": 1, "lifecycle": 1}


def test_a_header_breaks_its_own_rule_not_the_body(spec: ApiSpec) -> None:
    checker = ResponseChecker(spec)
    bad_trace = checker.problems("POST", CREATE, 400, {**TRACE, "traceparent": "zz"}, b'{"detail": "x"}')
    assert [(p.check, p.label) for p in bad_trace] == [("response.headers", None)]
    assert bad_trace[0].problem.startswith("header Traceparent:")
    # Retry-After as an HTTP date (RFC 9110 allows it): the contract reads seconds only, by assumption.
    date = checker.problems("POST", CREATE, 429, {**TRACE, "retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, DETAIL)
    assert [(p.check, p.label.basis if p.label else None) for p in date] == [("response.headers", "assumed")]
