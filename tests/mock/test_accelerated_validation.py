"""jsonschema-rs gives the verdict on every create, and Python's jsonschema only explains refusals
(mockserver/contract.py): the two must agree on every body, images included."""

from __future__ import annotations

import itertools
from operator import attrgetter
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_tests.images import data_uri, make_image, raw_base64, truncate
from mockserver import problems
from mockserver.app import _spec_formats
from mockserver.contract import MAX_REPORTED, Contract, FormatCheck
from mockserver.problems import describe_all
from sparkspec.image_rules import PLAIN_URL
from sparkspec.openapi import ApiSpec

CREATE = "createGeneration"


def _images() -> list[str]:
    good = make_image("PNG", 400, 400)
    return [
        "https://example.com/first_frame.jpg",
        "http://example.com",
        "HTTPS://EXAMPLE.COM/A.PNG",
        "https://user@example.com:8080/a.png?x=1#y",
        "https://[::1]/a.png",
        "https://",
        "https:///path-only",
        "https://exa mple.com/a.png",
        "https://example.com/\x01.png",
        "ftp://example.com/a.png",
        "example.com/a.png",
        data_uri(good),
        raw_base64(good),
        data_uri(make_image("PNG", 200, 200)),
        data_uri(truncate(make_image("JPEG", 400, 400)), "JPEG"),
        "data:image/png;base64,!!!!",
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png,notbase64",
        "",
    ]


IMAGES = _images()
SPEC = ApiSpec.load()
PROPERTIES = sorted(SPEC.document["components"]["schemas"]["GenerationRequest"]["properties"])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["1080P", "720P", "single", "multi", "triple", 5, 10, 15, 7, 2147483647, 2147483648, -1, 0]),
    st.text(min_size=1995, max_size=2005, alphabet="ab"),
    st.sampled_from(IMAGES),
    st.builds(lambda tail: "https://example.com/" + tail, st.text(max_size=8)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=4,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from([*PROPERTIES, "extra"]), values, max_size=len(PROPERTIES) + 1),
    st.fixed_dictionaries(
        {"prompt": st.text(max_size=20), "image": st.sampled_from(IMAGES)},
        optional={k: values for k in PROPERTIES if k not in ("prompt", "image")},
    ),
    values,
)


def disagreement(contract: Contract, body: Any) -> str | None:
    """What the fast validator and the Python one say differently about ``body``, if anything."""
    accelerated = contract._bodies[CREATE].validator
    fast, python = accelerated.is_valid(body), bool(accelerated.python.is_valid(body))
    return None if fast == python else f"jsonschema-rs says {fast}, jsonschema says {python}"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(SPEC, _spec_formats(SPEC))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=bodies)
def test_the_fast_verdict_is_the_python_validators(contract: Contract, body: Any) -> None:
    assert disagreement(contract, body) is None


@pytest.mark.parametrize("field", ["image", "last_frame"])
@pytest.mark.parametrize("value", [*IMAGES, 7, None, ["https://example.com/a.png"]])
def test_every_image_gets_the_same_verdict_in_either_field(contract: Contract, field: str, value: Any) -> None:
    body = {"prompt": "p", "image": "https://example.com/a.png", field: value}
    assert disagreement(contract, body) is None


def test_a_fast_validator_that_differs_is_caught(contract: Contract, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a jsonschema-rs that skips the spec's formats disagrees on a bad image."""
    accelerated = contract._bodies[CREATE].validator
    monkeypatch.setattr(accelerated, "fast", jsonschema_rs.validator_for(_request_schema(), validate_formats=False))
    assert disagreement(contract, {"prompt": "p", "image": "https://exa mple.com/a.png"}) is not None
    assert disagreement(contract, {"prompt": "p", "image": "https://example.com/a.png"}) is None


def test_the_shortcut_spares_python_the_plain_urls() -> None:
    """jsonschema-rs decides a plain URL by the format's shortcut alone; anything else goes to the check."""
    seen: list[object] = []
    [(name, check)] = _spec_formats(SPEC).items()

    def counted(value: object) -> bool:
        seen.append(value)
        return check.check(value)

    contract = Contract(SPEC, {name: FormatCheck(counted, check.raises, shortcut=check.shortcut)})
    assert check.shortcut == PLAIN_URL
    assert contract.body_problems(CREATE, {"prompt": "p", "image": "https://example.com/a.png"}) == []
    assert seen == []
    assert contract.body_problems(CREATE, {"prompt": "p", "image": "https://user@example.com/a.png"}) == []
    assert seen == ["https://user@example.com/a.png"]
    assert contract.body_problems(CREATE, {"prompt": "p", "image": "https://exa mple.com/a.png"}) != []


def _request_schema() -> dict[str, Any]:
    document = SPEC.localized("/")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **document,
        "$ref": "#/components/schemas/GenerationRequest",
    }


def explained_differently(contract: Contract, body: Any) -> str | None:
    """Where jsonschema-rs's own explanation of a refused ``body`` differs from Python's, if it gives one."""
    accelerated = contract._bodies[CREATE].validator
    native = accelerated.native_problems(body)
    if native is None:
        return None  # left to Python's validator
    python = describe_all(list(itertools.islice(accelerated.python.iter_errors(body), MAX_REPORTED)))
    key = attrgetter("field", "rule", "message")
    same = sorted(native, key=key) == sorted(python, key=key)
    return None if same else f"jsonschema-rs: {native}; jsonschema: {python}"


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=bodies)
def test_a_refusal_is_explained_in_the_same_words_by_either_validator(contract: Contract, body: Any) -> None:
    """An invalid create is explained by jsonschema-rs where it can (about twice as fast), in Python's words."""
    assert explained_differently(contract, body) is None


def test_most_refusals_are_explained_natively(contract: Contract) -> None:
    accelerated = contract._bodies[CREATE].validator
    refused = [
        {"prompt": "x" * 2001, "image": "https://example.com/a.png"},
        {"prompt": "p", "image": "https://example.com/a.png", "seed": -1, "duration": 7},
        {"image": "https://example.com/a.png", "extra": 1},
        {},
        [],
    ]
    assert all(accelerated.native_problems(body) is not None for body in refused)
    assert accelerated.native_problems({"prompt": "p", "image": "https://exa mple.com/a.png"}) is None


def test_words_that_differ_would_be_caught(contract: Contract, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: native words that read a limit from the wrong place differ from Python's."""
    body = {"prompt": "x" * 2001, "image": "https://example.com/a.png"}
    assert explained_differently(contract, body) is None
    monkeypatch.setitem(problems._NATIVE_LIMITS, "maxLength", "options")
    assert explained_differently(contract, body) is not None
