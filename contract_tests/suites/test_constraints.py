"""Every constraint of the create body, at its edges: the valid side is accepted, the invalid side is
refused with a documented 4xx, never with a 5xx. The edges come from the spec (see boundaries.py).

An edge whose side the docs do not state (its ``x-provenance`` label is disputed or assumed) is a
deviation when the target takes the other side. Once an edge has a verdict, its further examples
are not sent: each accepted one could be a billed task, and would say nothing new.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.boundaries import Edge, edges
from contract_tests.budget import drawing_from
from contract_tests.config import active
from contract_tests.suite_fixtures import run_spec
from contract_tests.target import Target
from contract_tests.task_plan import active_plan
from contract_tests.verdicts import Verdicts

CONFIG = active()
PLAN = active_plan()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each edge of the run's spec, on the side the test takes."""
    if "edge" in metafunc.fixturenames:
        valid = metafunc.definition.originalname == "test_the_valid_side_is_accepted"
        chosen = [e for e in edges(run_spec(metafunc.config)) if e.valid is valid]
        metafunc.parametrize("edge", chosen, ids=[e.id for e in chosen])


@pytest.mark.tasks("constraints.valid")
@settings(max_examples=PLAN.valid_examples)
@given(data=st.data())
def test_the_valid_side_is_accepted(
    edge: Edge, data: st.DataObject, target: Target, verdicts: Verdicts, base: dict[str, Any]
) -> None:
    assert edge.values is not None
    value = data.draw(edge.values, label=edge.field)  # drawn first: Hypothesis wants every example to draw alike
    if verdicts.settled(f"valid:{edge.id}"):
        return
    exchange = target.create(edge.body(base, value))
    label = edge.provenance if not edge.documented else None
    verdicts.settle(verdicts.accepted(exchange, edge.label, label), key=f"valid:{edge.id}")


@given(data=st.data())
def test_the_invalid_side_is_rejected(
    edge: Edge, data: st.DataObject, target: Target, verdicts: Verdicts, base: dict[str, Any]
) -> None:
    value = data.draw(edge.values, label=edge.field) if edge.values is not None else None
    if verdicts.settled(f"invalid:{edge.id}"):
        return
    share = "constraints.mistakes" if edge.documented else "constraints.undocumented"
    with drawing_from(share):
        exchange = target.create(edge.body(base, value), meant_to_be_rejected=True)
    label = edge.provenance if not edge.documented else None
    verdicts.settle(verdicts.rejected(exchange, edge.label, label), key=f"invalid:{edge.id}")


MALFORMED = {
    "not JSON": b"{this is not json",
    "a JSON array": b"[]",
    "JSON null": b"null",
    "a JSON string": b'"prompt"',
    "an empty body": b"",
}


@pytest.mark.tasks("constraints.mistakes")
@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_body_that_is_not_a_json_object_is_rejected(raw: bytes, target: Target, verdicts: Verdicts) -> None:
    exchange = target.create(raw=raw, meant_to_be_rejected=True)
    verdicts.settle(verdicts.rejected(exchange, "the body must be a JSON object"))
