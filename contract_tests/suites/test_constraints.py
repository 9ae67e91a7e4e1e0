"""Every constraint of the create body, at its edges: the valid side is accepted, the invalid side is
refused with a documented 4xx, never with a 5xx. The edges come from the spec (see boundaries.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.boundaries import Edge, base_body, edges
from contract_tests.checks import Verdicts
from contract_tests.config import active
from contract_tests.target import Target
from contract_tests.violations import raise_if_any
from mockserver.spec import ApiSpec

PROFILE = active().profile
SPEC = ApiSpec.load()
EDGES = edges(SPEC)
BASE = base_body(SPEC)


def _body(edge: Edge, value: Any) -> dict[str, Any]:
    body = dict(BASE)
    if edge.values is None:
        body.pop(edge.field, None)
    else:
        body[edge.field] = value
    return body


@pytest.mark.parametrize("edge", [e for e in EDGES if e.valid], ids=lambda e: e.id)
@settings(max_examples=PROFILE.valid_examples)
@given(data=st.data())
def test_the_valid_side_is_accepted(edge: Edge, data: st.DataObject, target: Target, verdicts: Verdicts) -> None:
    assert edge.values is not None
    value = data.draw(edge.values, label=edge.field)
    exchange = target.create(_body(edge, value))
    raise_if_any(verdicts.accepted(exchange, edge.label))


@pytest.mark.parametrize("edge", [e for e in EDGES if not e.valid], ids=lambda e: e.id)
@settings(max_examples=PROFILE.invalid_examples)
@given(data=st.data())
def test_the_invalid_side_is_rejected(edge: Edge, data: st.DataObject, target: Target, verdicts: Verdicts) -> None:
    value = data.draw(edge.values, label=edge.field) if edge.values is not None else None
    exchange = target.create(_body(edge, value), meant_to_be_rejected=True)
    raise_if_any(verdicts.rejected(exchange, edge.label))


MALFORMED = {
    "not JSON": b"{this is not json",
    "a JSON array": b"[]",
    "JSON null": b"null",
    "a JSON string": b'"prompt"',
    "an empty body": b"",
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_body_that_is_not_a_json_object_is_rejected(raw: bytes, target: Target, verdicts: Verdicts) -> None:
    exchange = target.create(raw=raw, meant_to_be_rejected=True)
    raise_if_any(verdicts.rejected(exchange, "the body must be a JSON object"))
