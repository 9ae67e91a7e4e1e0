"""The spec read two more ways, from its ``x-provenance`` labels, for checks that must not raise false alarms.

- :func:`documented_only`: every rule whose label is not *documented* is relaxed. A request that
  breaks this document is refused by every reading of the docs; a response that breaks it breaks
  what the docs state. It is what Schemathesis' negative cases are drawn from, and what a response
  is held to before anything it does is called a violation.
- :func:`accepted_everywhere`: the request schema narrowed to what every reading accepts (an enum to
  its documented members, no ``null`` where taking it is only assumed, no unknown fields). Positive
  cases are drawn from it, so a refusal of one is a violation, never a reading's choice.

The spec itself stays the contract's full reading: what the mock does, and what strict runs hold
a target to.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from contract_tests.target import CREATE_OPERATION
from sparkspec.openapi import ApiSpec, enumerated
from sparkspec.provenance import EXTENSION, RULE_KEYWORDS, Provenance, Provenances

_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def documented_only(spec: ApiSpec) -> dict[str, Any]:
    """A copy of the spec's document in which every rule not documented is relaxed."""
    labels = Provenances(spec)
    document = copy.deepcopy(dict(spec.document))
    _each_labelled(document, lambda node: _relax(node, labels.of(node)))
    return document


def accepted_everywhere(spec: ApiSpec) -> dict[str, Any]:
    """The :func:`documented_only` document, with the create's request schema narrowed to what every
    reading of the docs accepts (starting from the contract's own request schema, so every bound of
    the contract still holds)."""
    labels = Provenances(spec)
    document = documented_only(spec)
    body = spec.operation(CREATE_OPERATION).node["requestBody"]["content"]["application/json"]["schema"]
    name = str(body["$ref"]).rsplit("/", 1)[-1]
    narrowed = copy.deepcopy(dict(spec.document["components"]["schemas"][name]))
    _each_labelled(narrowed, lambda node: _narrow(node, labels.of(node)))
    document["components"]["schemas"][name] = narrowed
    return document


def _each_labelled(node: Any, change: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, list):
        for item in node:
            _each_labelled(item, change)
    elif isinstance(node, dict):
        for value in list(node.values()):
            _each_labelled(value, change)
        if EXTENSION in node:
            change(node)


def _relax(node: dict[str, Any], labels: Mapping[str, Provenance]) -> None:
    for rule, label in labels.items():
        if label.documented:
            continue
        if rule == "if":
            for keyword in ("if", "then", "else"):
                node.pop(keyword, None)
        elif rule == "required" and isinstance(node.get("required"), bool):
            node["required"] = False  # a header
        elif rule in RULE_KEYWORDS:
            node.pop(rule, None)
        elif rule == "nullable":
            _allow_null(node)
        elif rule == "content-type":
            node.pop("content", None)  # any body, of any type


def _allow_null(node: dict[str, Any]) -> None:
    if "type" in node:
        types = [node["type"]] if isinstance(node["type"], str) else list(node["type"])
        node["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    elif any(key in node for key in ("allOf", "$ref", "anyOf", "enum")):
        rules = {k: node.pop(k) for k in list(node) if not k.startswith("x-") and k != "description"}
        node["anyOf"] = [{"type": "null"}, rules]


def _narrow(node: dict[str, Any], labels: Mapping[str, Provenance]) -> None:
    listed = enumerated(node)
    if listed is not None and "anyOf" in labels:
        # An anyOf of listed values is a type and an enum (see sparkspec.openapi.enumerated), narrowed as one.
        del node["anyOf"]
        node.update(listed)
        labels = {"type": labels["anyOf"], "enum": labels["anyOf"], **labels}
    enum = labels.get("enum")
    if enum is not None and "enum" in node and not enum.documented and enum.accepted is not None:
        node["enum"] = [m for m in node["enum"] if enum.accepts_documented(m)]
        node["type"] = sorted({_JSON_TYPE[type(m)] for m in node["enum"]})
    nullable = labels.get("nullable")
    if nullable is not None and not nullable.accepts_documented(None):
        if isinstance(node.get("type"), list) and "null" in node["type"]:
            node["type"] = [t for t in node["type"] if t != "null"]
        if "enum" in node:
            node["enum"] = [m for m in node["enum"] if m is not None]
    extra = labels.get("additionalProperties")
    if extra is not None and not extra.documented:
        node["additionalProperties"] = False
