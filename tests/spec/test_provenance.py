"""Every rule of the spec says where it comes from, and what it quotes is really in its source."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import pytest

from mockserver.settings import ENV_PREFIX, Settings
from sparkspec.openapi import ApiSpec, SpecError
from sparkspec.provenance import Provenances, unlabelled
from tests.helpers import REPO

SPEC_DIR = REPO / "spec"


def _normal(text: str) -> str:
    # The copies are pages flattened to text and Markdown notes: emphasis and line breaks are not words.
    return re.sub(r"\s+", " ", re.sub(r"\*\*|`", "", text)).strip()


def quote_is_in_its_source(quote: str, copies: tuple[str, ...]) -> bool:
    return any(_normal(quote) in _normal((SPEC_DIR / copy).read_text(encoding="utf-8")) for copy in copies)


def test_no_rule_of_the_spec_is_left_without_a_label(spec: ApiSpec) -> None:
    assert unlabelled(spec) == []


@pytest.mark.parametrize(
    ("where", "rule"),
    [
        (("components", "schemas", "GenerationRequest", "properties", "prompt"), "maxLength"),
        (("components", "schemas", "GenerationRequest", "properties", "seed"), "nullable"),
        (("components", "schemas", "GenerationRequest"), "additionalProperties"),
        (("components", "schemas", "ImageInput", "x-image-rules"), "max-bytes"),
        (("components", "schemas", "TaskStatus", "x-task-lifecycle"), "terminal"),
        (("components", "responses", "PayloadTooLarge"), "status"),
        (("components", "headers", "Traceparent"), "required"),
        (("components", "schemas", "Error", "properties", "detail"), "type"),
        (("components", "parameters", "WebhookSignature", "x-webhook-signature"), "encoding"),
        (("x-webhook-endpoints",), "max-endpoints"),
        (("components", "parameters", "WebhookId"), "required"),
        (("components", "schemas", "WebhookTaskData", "properties", "vendor"), "const"),
    ],
)
def test_a_rule_without_a_label_is_found(spec: ApiSpec, where: tuple[str, ...], rule: str) -> None:
    document: Any = copy.deepcopy(dict(spec.document))
    node = document
    for part in where:
        node = node[part]
    del node["x-provenance"][rule]
    assert any(line.endswith(f": {rule}") for line in unlabelled(ApiSpec(document)))


def test_every_label_is_well_formed_and_every_quote_is_in_its_source(spec: ApiSpec) -> None:
    labels = list(Provenances(spec).all())
    assert len(labels) > 150
    bases = {label.basis for _, label in labels}
    assert bases == {"documented", "disputed", "assumed"}
    for pointer, label in labels:
        if label.basis != "assumed":
            assert label.source is not None and label.quotes, pointer
        for quote in label.quotes:
            assert label.source is not None
            assert quote_is_in_its_source(quote, label.source.copies), f"{pointer}: {quote!r} is not in its source"
        assert label.words()


def test_the_console_s_endpoint_limits_are_documented_each(spec: ApiSpec) -> None:
    labels = Provenances(spec).of(spec.document["x-webhook-endpoints"])
    assert set(labels) == {"max-endpoints", "url-max-length", "description-max-length"}
    assert all(label.documented and label.source is not None for label in labels.values())


def test_the_quote_check_can_fail(spec: ApiSpec) -> None:
    copies = Provenances(spec).sources["endpoint"].copies
    assert quote_is_in_its_source("Maximum string length: 2000", copies)
    assert not quote_is_in_its_source("Maximum string length: 4000", copies)


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ({"basis": "documented", "source": "endpoint"}, "must name its source and quote it"),
        ({"basis": "assumed"}, "must say why"),
        ({"basis": "disputed", "source": "endpoint", "quote": "x", "readings": []}, "two readings"),
        ({"basis": "known"}, "needs a basis"),
        ({"basis": "documented", "source": "nowhere", "quote": "x"}, "unknown source"),
    ],
)
def test_a_malformed_label_is_refused(spec: ApiSpec, label: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError, match=problem):
        Provenances(spec).of({"x-provenance": {"rule": label}})


def test_every_rule_the_image_check_can_break_is_labelled(spec: ApiSpec) -> None:
    source = (REPO / "sparkspec" / "image_rules.py").read_text()
    raised = set(re.findall(r'ImageRejected\(\s*"([a-z-]+)"', source))
    assert {"formats", "min-side", "max-side", "max-bytes", "integrity", "png-transparency"} <= raised
    rules = spec.schemas_with_extension("x-image-rules")["ImageInput"]["x-image-rules"]
    assert raised <= set(Provenances(spec).of(rules))


def test_every_setting_a_label_names_is_a_setting_of_the_mock(spec: ApiSpec) -> None:
    settings = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    named = {label.setting for _, label in Provenances(spec).all() if label.setting}
    assert named and named <= settings


def test_a_disputed_bound_names_the_value_of_each_reading(spec: ApiSpec) -> None:
    rules = spec.schemas_with_extension("x-image-rules")["ImageInput"]["x-image-rules"]
    label = Provenances(spec).label(rules, "max-bytes")
    assert label.basis == "disputed"
    assert {r.name: r.value for r in label.readings} == {"binary": 10_485_760, "decimal": 10_000_000}
    assert [r.value for r in label.readings if r.contract] == [rules["max-bytes"]]
    assert "Max 10MB" in label.words() and "(this contract)" in label.words()
