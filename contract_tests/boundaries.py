"""The edges of every constraint of the create body, derived from the spec.

Nothing here knows that a prompt is limited to 2000 characters: it reads ``maxLength: 2000`` from
the spec and makes the two edges, 2000 (accepted) and 2001 (rejected). Change the spec and the
edges follow. Each edge also carries the ``x-provenance`` label of its rule: an edge whose side the
docs do not state (``null`` in a field typed ``string``, a value of a disputed enum...) is
*undocumented*, and a target that takes the other side of it deviates, not violates.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from contract_tests.strategies import texts, urls
from contract_tests.target import CREATE_OPERATION
from sparkspec.openapi import ApiSpec, enumerated
from sparkspec.provenance import Provenance, Provenances

_JSON_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=20),
    "integer": st.integers(-(2**40), 2**40),
    "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    "boolean": st.booleans(),
    "null": st.none(),
    "array": st.lists(st.integers(), max_size=3),
    "object": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
}
_WRONG_SAMPLES: dict[str, Any] = {
    "string": "five",  # not "5", which a lax server reads as the number
    "integer": 5,
    "number": 1.5,
    "boolean": True,
    "null": None,
    "array": [1],
    "object": {"a": 1},
}
SAMPLE_URL = "https://example.com/media/sample.mp3"
# Refused by every parser of URLs: no scheme, or a space in the host.
NOT_URIS = ["not a uri", "://no-scheme.example/a.mp3", "http://exa mple.com/a b.mp3"]
# Refused by RFC 3986, which `format: uri` holds to; a lenient parser (a browser's, WHATWG) takes them.
STRICTLY_NOT_URIS = ["https://example.com/%zz", "https://example.com/a b.mp3"]
# URIs of schemes other than http(s): a `pattern` that asks for a URL a service can fetch refuses them.
OTHER_SCHEMES = ["ftp://example.com/media/sample.mp3", "data:audio/mpeg;base64,SUQzBAAAAAAAAA=="]


@dataclass(frozen=True)
class Edge:
    """One side of one constraint of one field.

    Attributes:
        field: The body field.
        rule: The JSON Schema keyword it tests (``maxLength``, ``minimum``, ``enum``, ``type``, ``required``...).
        label: What the example is, in words.
        valid: Whether the contract says the target must accept it.
        values: Values for the field, for Hypothesis; ``None`` means the field is left out.
        samples: A few fixed values from ``values``, for runs that plan every request in advance.
        provenance: The label of the rule this side of it follows.
        documented: Whether the docs state this side (every reading accepts a valid edge, or refuses
            an invalid one); otherwise a target may take the other side and only deviates.
    """

    field: str
    rule: str
    label: str
    valid: bool
    values: st.SearchStrategy[Any] | None = dataclasses.field(default=None, compare=False)
    samples: tuple[Any, ...] = dataclasses.field(default=(), compare=False)
    provenance: Provenance | None = dataclasses.field(default=None, compare=False, repr=False)
    documented: bool = dataclasses.field(default=True, compare=False)
    exact: bool = dataclasses.field(default=False, compare=False)

    @property
    def id(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.=<>\[\],-]+", "-", self.label).strip("-")

    def body(self, base: Mapping[str, Any], value: Any) -> dict[str, Any]:
        """``base`` with this edge's field set to ``value`` (or left out, for a missing required field)."""
        body = dict(base)
        if self.values is None:
            body.pop(self.field, None)
        else:
            body[self.field] = value
        return body


def base_body(spec: ApiSpec) -> dict[str, Any]:
    """The smallest valid body among the spec's request examples: every edge changes one field of it."""
    node = spec.operation(CREATE_OPERATION).node["requestBody"]["content"]["application/json"]
    examples: list[dict[str, Any]] = [dict(e["value"]) for e in node.get("examples", {}).values()]
    if not examples:
        raise ValueError("the create operation has no request example to start from")
    return min(examples, key=len)


def edges(spec: ApiSpec) -> list[Edge]:
    """Every edge of every constraint the request schema states, valid and invalid, each with its label."""
    schema = spec.request_schema(CREATE_OPERATION)
    labels = Provenances(spec)
    found: list[Edge] = []
    for name in schema.get("required", []):
        found.append(Edge(name, "required", f"{name} left out (required)", False, None, (None,), exact=True))
    found = [_labelled(e, labels.of(schema)) for e in found]
    for name, raw in schema.get("properties", {}).items():
        flat = _flatten(spec, raw)
        found += [_labelled(e, _labels_of(spec, labels, raw)) for e in _field_edges(name, flat)]
    return found


def _flatten(spec: ApiSpec, raw: Any) -> dict[str, Any]:
    """A property's schema with ``$ref`` followed, ``allOf`` merged (this spec uses both plainly), and an
    ``anyOf`` of listed values read as the ``type`` and ``enum`` it amounts to (see :func:`enumerated`)."""
    schema = dict(spec.resolve(raw))
    for part in schema.pop("allOf", []):
        schema = {**_flatten(spec, part), **schema}
    listed = enumerated(schema)
    if listed is not None:
        del schema["anyOf"]
        schema.update(listed)
    return schema


def _labels_of(spec: ApiSpec, labels: Provenances, raw: Any) -> dict[str, Provenance]:
    """The labels of a property: those of the schemas it builds on, then its own, which win. The label of
    an ``anyOf`` that :func:`_flatten` reads as a ``type`` and an ``enum`` is the label of both."""
    node = spec.resolve(raw)
    found: dict[str, Provenance] = {}
    for part in node.get("allOf", []) if isinstance(node, Mapping) else []:
        found.update(_labels_of(spec, labels, part))
    found.update(labels.of(node))
    if "anyOf" in found and isinstance(node, Mapping) and enumerated(node) is not None:
        found = {"type": found["anyOf"], "enum": found["anyOf"], **found}
    return found


def _labelled(edge: Edge, labels: Mapping[str, Provenance]) -> Edge:
    """``edge`` with the label of its rule; a rule without one is a defect of the spec."""
    rule = "nullable" if edge.rule == "type" and edge.samples == (None,) else edge.rule
    label = labels.get(rule)
    if label is None:
        raise ValueError(f"the spec gives {edge.field}.{rule} no x-provenance label")
    if edge.valid:
        documented = all(label.accepts_documented(v) for v in edge.samples) if edge.samples else label.documented
    else:
        documented = label.documented
    return dataclasses.replace(edge, provenance=label, documented=documented)


def _field_edges(name: str, schema: Mapping[str, Any]) -> list[Edge]:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    found: list[Edge] = []
    custom_format = "format" in schema and schema["format"] not in ("uri", "uuid", "date-time")

    if "enum" in schema:
        members = list(schema["enum"])
        found += [_exact(name, "enum", f"{name} = {_show(m)} (enum)", True, m) for m in members]
        found += [_exact(name, "enum", f"{name} = {_show(v)} (not in the enum)", False, v) for v in _gaps(members)]
        far = [v for v in ("not-a-member", 10**6) if not any(_same(v, m) for m in members)]
        found.append(Edge(name, "enum", f"{name} outside the enum", False, _outside(members, types), tuple(far[:1])))
    elif "boolean" in types:
        found += [_exact(name, "type", f"{name} = {_show(b)}", True, b) for b in (True, False)]

    if "maxLength" in schema and schema.get("format") == "uri":
        limit = int(schema["maxLength"])
        found += [
            Edge(
                name,
                "maxLength",
                f"{name} a URL of {limit} characters (maxLength)",
                True,
                _url_of(limit),
                (_fit_url(SAMPLE_URL, limit),),
            ),
            Edge(
                name,
                "maxLength",
                f"{name} a URL of {limit + 1} characters (maxLength {limit})",
                False,
                _url_of(limit + 1),
                (_fit_url(SAMPLE_URL, limit + 1),),
            ),
        ]
    elif "maxLength" in schema and not custom_format:
        limit = int(schema["maxLength"])
        found += [
            Edge(name, "maxLength", f"{name} of {limit} characters (maxLength)", True, texts(limit), ("a" * limit,)),
            Edge(
                name,
                "maxLength",
                f"{name} of {limit} multi-byte characters (maxLength)",
                True,
                texts(limit, multibyte_only=True),
                ("猫" * limit,),
            ),
            Edge(
                name,
                "maxLength",
                f"{name} of {limit + 1} characters (maxLength {limit})",
                False,
                texts(limit + 1),
                ("a" * (limit + 1),),
            ),
            Edge(
                name,
                "maxLength",
                f"{name} of {limit + 1} multi-byte characters (maxLength {limit})",
                False,
                texts(limit + 1, multibyte_only=True),
                ("猫" * (limit + 1),),
            ),
        ]
    if int(schema.get("minLength", 0)) > 0:
        limit = int(schema["minLength"])
        if not custom_format:
            found.append(
                Edge(name, "minLength", f"{name} of {limit} characters (minLength)", True, texts(limit), ("a" * limit,))
            )
        found.append(
            Edge(
                name,
                "minLength",
                f"{name} of {limit - 1} characters (minLength {limit})",
                False,
                texts(limit - 1),
                ("a" * (limit - 1),),
            )
        )

    if "integer" in types and "enum" not in schema:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None:
            found += [
                _exact(name, "minimum", f"{name} = {low} (minimum)", True, low),
                _exact(name, "minimum", f"{name} = {low - 1} (minimum {low})", False, low - 1),
                Edge(name, "minimum", f"{name} below {low}", False, st.integers(max_value=low - 1), (low - 2**40,)),
            ]
        if high is not None:
            found += [
                _exact(name, "maximum", f"{name} = {high} (maximum)", True, high),
                _exact(name, "maximum", f"{name} = {high + 1} (maximum {high})", False, high + 1),
                Edge(name, "maximum", f"{name} above {high}", False, st.integers(min_value=high + 1), (high + 2**40,)),
            ]
        if low is not None and high is not None:
            found.append(
                Edge(
                    name,
                    "minimum",
                    f"{name} within [{low}, {high}]",
                    True,
                    st.integers(low, high),
                    ((low + high) // 2,),
                )
            )

    if schema.get("format") == "uri":
        found.append(Edge(name, "format", f"{name} a URL (format uri)", True, urls("mp3"), (SAMPLE_URL,)))
        found.append(
            Edge(name, "format", f"{name} not a URI (format uri)", False, st.sampled_from(NOT_URIS), tuple(NOT_URIS))
        )
        found.append(
            Edge(
                name,
                "uri-syntax",
                f"{name} a URL that only a lenient parser takes (format uri, RFC 3986)",
                False,
                st.sampled_from(STRICTLY_NOT_URIS),
                tuple(STRICTLY_NOT_URIS),
            )
        )

    if "pattern" in schema and schema.get("format") == "uri":
        refused = tuple(u for u in OTHER_SCHEMES if not re.search(schema["pattern"], u))
        if refused:
            text = f"{name} a URI of another scheme (pattern {schema['pattern']})"
            found.append(Edge(name, "pattern", text, False, st.sampled_from(refused), refused))

    if "null" in types and "enum" not in schema:
        found.append(_exact(name, "type", f"{name} = null", True, None))
    elif "null" not in types:
        found.append(_exact(name, "type", f"{name} = null", False, None))
    wrong = [t for t in _JSON_VALUES if t not in types and t != "null" and not (t == "integer" and "number" in types)]
    if wrong:
        found.append(
            Edge(
                name,
                "type",
                f"{name} of a wrong JSON type ({', '.join(wrong)})",
                False,
                st.one_of(*(_JSON_VALUES[t] for t in wrong)),
                tuple(_WRONG_SAMPLES[t] for t in wrong),
            )
        )
    return found


def _exact(name: str, rule: str, label: str, valid: bool, value: Any) -> Edge:
    return Edge(name, rule, label, valid, st.just(value), (value,), exact=True)


def _fit_url(url: str, length: int) -> str:
    """``url`` with its path padded (or cut) to exactly ``length`` characters."""
    head = url.split("/", 3)
    root = "/".join(head[:3]) + "/"
    return root + (head[3] if len(head) > 3 else "").ljust(length - len(root), "a")[: length - len(root)]


def _url_of(length: int) -> st.SearchStrategy[str]:
    """URLs of exactly ``length`` characters."""
    return urls("mp3").map(lambda url: _fit_url(url, length))


def _gaps(members: list[Any]) -> list[Any]:
    """Every value a client could plausibly try instead: for a small integer enum, each integer of its
    span (and one beyond each end) that it does not list; for strings, case and whitespace slips."""
    integers = [m for m in members if isinstance(m, int) and not isinstance(m, bool)]
    gaps: list[Any] = []
    if integers and max(integers) - min(integers) <= 64:
        gaps += [v for v in range(min(integers) - 1, max(integers) + 2) if v not in integers]
    for member in members:
        if isinstance(member, str):
            gaps += [
                v for v in (member.lower(), member.upper(), member + " ", "") if v not in members and v not in gaps
            ]
    return gaps


def _outside(members: list[Any], types: list[str]) -> st.SearchStrategy[Any]:
    """Values of the field's own types that the enum does not list, starting with near misses."""
    near: list[Any] = []
    for member in members:
        if isinstance(member, str):
            near += [member.lower(), member.upper(), member + " ", ""]
        elif isinstance(member, int) and not isinstance(member, bool):
            near += [member - 1, member + 1]
    candidates = [st.sampled_from(near)] if near else []
    candidates += [_JSON_VALUES[t] for t in types if t in ("string", "integer")]
    return st.one_of(*candidates).filter(lambda v: not any(_same(v, m) for m in members))


def _same(value: Any, member: Any) -> bool:
    # JSON Schema tells true from 1, which Python's == does not.
    return type(value) is type(member) and value == member


def _show(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
