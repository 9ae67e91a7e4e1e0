"""Where each rule of the contract comes from: the ``x-provenance`` labels of the spec.

Every rule the spec states (a length, a bound, an enum, a required field, a format, whether ``null``
is taken, an image or audio rule, a lifecycle rule, an error shape, a status) carries a label in an
``x-provenance`` mapping on the node that states it, keyed by the rule (the JSON Schema keyword, or
a name such as ``nullable`` or ``integrity``). A label is one of three:

- **documented**: the public docs state the rule; the label names the source and quotes its words.
- **disputed**: the docs say two things; the label names each reading, and the one this contract takes.
- **assumed**: the docs are silent; the contract picked a reading, and the label says why.

A contract check fails a target only for a documented rule. Breaking a disputed or assumed rule is
a *deviation*: reported, with the docs' words beside what came back, and a failure only in strict
runs. ``tests/spec/test_provenance.py`` holds that no rule of the spec is left without a label, and that
every quoted word is found in the copy of its source under ``spec/sources/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sparkspec.openapi import ApiSpec, SpecError

Basis = Literal["documented", "disputed", "assumed"]
BASES: tuple[str, ...] = get_args(Basis)
EXTENSION = "x-provenance"

# The JSON Schema keywords that state a rule; each one present on a schema node needs a label.
RULE_KEYWORDS = (
    "type",
    "enum",
    "const",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "required",
    "default",
    "anyOf",
    "oneOf",
    "if",
)


@dataclass(frozen=True, slots=True)
class Source:
    """A public page the spec quotes, and the copies of it kept under ``spec/sources/``.

    ``summarised`` sources are quoted through the research notes (``api-facts.md``), which paraphrase
    the page: their quotes are the notes' words, and reports say so.
    """

    key: str
    url: str
    copies: tuple[str, ...]
    summarised: bool = False

    @property
    def name(self) -> str:
        return self.key.replace("-", " ")


@dataclass(frozen=True, slots=True)
class Reading:
    """One way of reading a disputed rule: what it says, and the value it gives the rule, if any."""

    name: str
    says: str
    value: Any = None
    contract: bool = False


@dataclass(frozen=True, slots=True)
class Provenance:
    """The label of one rule.

    Attributes:
        rule: The keyword or rule name it labels (``maxLength``, ``nullable``, ``integrity``...).
        basis: ``documented``, ``disputed`` or ``assumed``.
        source: The page quoted (documented and disputed rules).
        quotes: The page's own words.
        why: Why the contract took its reading (assumed rules; optional on the others).
        readings: The readings of a disputed rule; the one marked ``contract`` is this contract's.
        accepted: For an enum that is not documented as a whole: the members that every reading takes.
        setting: The ``MOCK_*`` setting that switches the mock to the other reading, if there is one.
    """

    rule: str
    basis: Basis
    source: Source | None = None
    quotes: tuple[str, ...] = ()
    why: str = ""
    readings: tuple[Reading, ...] = ()
    accepted: tuple[Any, ...] | None = None
    setting: str | None = None

    @property
    def documented(self) -> bool:
        return self.basis == "documented"

    def accepts_documented(self, value: Any) -> bool:
        """Whether every reading accepts ``value`` where this rule's own reading does."""
        if self.documented:
            return True
        return self.accepted is not None and any(_same(value, member) for member in self.accepted)

    def words(self) -> str:
        """What the docs say about the rule, for a person reading a report."""
        where = ""
        if self.source is not None:
            said = "; ".join(f"“{_one_line(q)}”" for q in self.quotes)
            notes = ", as summarised in spec/sources/api-facts.md" if self.source.summarised else ""
            where = f"{said} ({self.source.name} page, {self.source.url}{notes})"
        why = _one_line(self.why)
        if self.basis == "documented":
            text = f"The docs say: {where}."
        elif self.basis == "disputed":
            readings = " ".join(
                f"Reading '{r.name}'{' (this contract)' if r.contract else ''}: {_one_line(r.says)}."
                for r in self.readings
            )
            text = f"The docs can be read more than one way: {where}. {readings}" + (f" {why}" if why else "")
        else:
            text = f"The docs are silent; this contract assumes a reading. {why}"
        if self.setting:
            text += f" The mock switches readings with {self.setting}."
        return text


class Provenances:
    """Every label of a spec, parsed and checked once; see the module's docstring."""

    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec
        raw_sources = spec.document.get("info", {}).get("x-sources", {})
        self.sources = {key: _source(key, value) for key, value in raw_sources.items()}

    def of(self, node: Any) -> dict[str, Provenance]:
        """The labels on ``node`` (a schema, response, header or extension object), by rule."""
        raw = node.get(EXTENSION, {}) if isinstance(node, Mapping) else {}
        if not isinstance(raw, Mapping):
            raise SpecError(f"{EXTENSION} must be a mapping of rule to label, got {raw!r}")
        return {str(rule): self._parse(str(rule), entry) for rule, entry in raw.items()}

    def label(self, node: Any, rule: str) -> Provenance:
        """The label of ``rule`` on ``node``; a missing one is a defect of the spec."""
        labels = self.of(node)
        if rule not in labels:
            raise SpecError(f"the spec gives rule {rule!r} no {EXTENSION} label")
        return labels[rule]

    def all(self) -> Iterator[tuple[str, Provenance]]:
        """Every label of the spec, with a pointer to the node that carries it."""
        for pointer, node in _walk(self.spec.document, "#"):
            if isinstance(node, Mapping) and EXTENSION in node:
                for rule, label in self.of(node).items():
                    yield f"{pointer}/{EXTENSION}/{rule}", label

    def _parse(self, rule: str, entry: Any) -> Provenance:
        if not isinstance(entry, Mapping) or entry.get("basis") not in BASES:
            raise SpecError(f"label of {rule!r} needs a basis, one of {', '.join(BASES)}: got {entry!r}")
        basis = entry["basis"]
        source = None
        if "source" in entry:
            if entry["source"] not in self.sources:
                raise SpecError(f"label of {rule!r} names an unknown source {entry['source']!r} (see info.x-sources)")
            source = self.sources[entry["source"]]
        quote = entry.get("quote", ())
        quotes = (quote,) if isinstance(quote, str) else tuple(str(q) for q in quote)
        readings = tuple(
            Reading(str(r["name"]), str(r["says"]), r.get("value"), bool(r.get("contract", False)))
            for r in entry.get("readings", ())
        )
        if basis == "documented" and (source is None or not quotes):
            raise SpecError(f"documented rule {rule!r} must name its source and quote it")
        if basis == "disputed" and (len(readings) < 2 or sum(r.contract for r in readings) != 1):
            raise SpecError(f"disputed rule {rule!r} must name two readings or more, one of them the contract's")
        if basis == "assumed" and not entry.get("why"):
            raise SpecError(f"assumed rule {rule!r} must say why the contract reads it so")
        accepted = entry.get("accepted")
        return Provenance(
            rule=rule,
            basis=basis,
            source=source,
            quotes=quotes,
            why=str(entry.get("why", "")).strip(),
            readings=readings,
            accepted=tuple(accepted) if accepted is not None else None,
            setting=entry.get("setting"),
        )


def _source(key: str, raw: Any) -> Source:
    if isinstance(raw, str):
        return Source(key, raw, ())
    copies = raw.get("copies", ())
    return Source(key, str(raw["url"]), tuple(copies), bool(raw.get("summarised", False)))


def _walk(node: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key != EXTENSION:
                yield from _walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _same(value: Any, member: Any) -> bool:
    # JSON Schema tells true from 1, which Python's == does not.
    return type(value) is type(member) and value == member


def unlabelled(spec: ApiSpec) -> list[str]:
    """Every rule the spec states without a label, as ``pointer: rule``; empty when all are labelled.

    The rules: each operation's path; the security scheme; each response's status, content type and
    business error code; each header's presence; every rule keyword of every schema that a request or
    response uses; for the request body, whether each field takes ``null`` and what an unknown field
    does; every key of ``x-image-rules``, ``x-audio-rules`` and ``x-task-lifecycle``; each task
    error code and its title; for each webhook, the presence of each of its headers, every rule of
    their schemas and of its body's, and every key of ``x-webhook-signature``; and every key of
    ``x-webhook-endpoints``.
    """
    missing: list[str] = []
    labels = Provenances(spec)
    seen: set[int] = set()

    def need(pointer: str, node: Any, rules: Iterator[str] | list[str] | tuple[str, ...]) -> None:
        have = labels.of(node)
        missing.extend(f"{pointer}: {rule}" for rule in rules if rule not in have)

    def schema(pointer: str, node: Any) -> None:
        if isinstance(node, Mapping) and "$ref" in node:
            pointer, node = node["$ref"], spec.resolve(node)
        if not isinstance(node, Mapping) or id(node) in seen:
            return
        seen.add(id(node))
        need(pointer, node, [k for k in RULE_KEYWORDS if k in node])
        for name, part in node.get("properties", {}).items():
            schema(f"{pointer}/properties/{name}", part)
        if "items" in node:
            schema(f"{pointer}/items", node["items"])
        for index, part in enumerate(node.get("allOf", ())):
            schema(f"{pointer}/allOf/{index}", part)
        for extension in ("x-image-rules", "x-audio-rules", "x-task-lifecycle"):
            if extension in node:
                rules = node[extension]
                need(f"{pointer}/{extension}", rules, [k for k in rules if k != EXTENSION])
        for index, entry in enumerate(node.get("x-task-error-codes", ())):
            need(f"{pointer}/x-task-error-codes/{index}", entry, ("code", "title"))

    for name, scheme in spec.document.get("components", {}).get("securitySchemes", {}).items():
        need(
            f"#/components/securitySchemes/{name}",
            scheme,
            [k for k in ("scheme", "x-token-pattern", "x-key-pattern") if k in scheme],
        )
    for op in spec.operations.values():
        where = f"{op.method} {op.path}"
        need(where, op.node, ("path",))
        for index, parameter in enumerate(op.node.get("parameters", ())):
            schema(f"{where} parameters/{index}", parameter.get("schema"))
        body = spec.resolve(op.node.get("requestBody"))
        if isinstance(body, Mapping):
            for media, content in body.get("content", {}).items():
                request = spec.resolve(content.get("schema"))
                schema(f"{where} request {media}", content.get("schema"))
                if isinstance(request, Mapping) and "properties" in request:
                    need(f"{where} request {media}", request, ("additionalProperties",))
                    for name, part in request["properties"].items():
                        need(f"{where} request {media} /properties/{name}", part, ("nullable",))
        for status, raw in op.node.get("responses", {}).items():
            response = spec.resolve(raw)
            pointer = raw.get("$ref", f"{where} {status}") if isinstance(raw, Mapping) else f"{where} {status}"
            need(pointer, response, ("status", *(("content-type",) if "content" in response else ())))
            if "x-error-code" in response:
                need(pointer, response, ("x-error-code",))
            for header_name, header_raw in response.get("headers", {}).items():
                header = spec.resolve(header_raw)
                need(f"{pointer} header {header_name}", header, ("required",))
                schema(f"{pointer} header {header_name} schema", header.get("schema"))
            for media, content in response.get("content", {}).items():
                schema(f"{pointer} {media}", content.get("schema"))
    for name, item in spec.document.get("webhooks", {}).items():
        for method, op in item.items():
            where = f"webhook {name} {method.upper()}"
            for index, raw in enumerate(op.get("parameters", ())):
                parameter = spec.resolve(raw)
                pointer = raw.get("$ref", f"{where} parameters/{index}")
                need(pointer, parameter, ("required",))
                schema(f"{pointer} schema", parameter.get("schema"))
                signing = parameter.get("x-webhook-signature")
                if isinstance(signing, Mapping):
                    need(f"{pointer}/x-webhook-signature", signing, [k for k in signing if k != EXTENSION])
            body = spec.resolve(op.get("requestBody"))
            for media, content in (body or {}).get("content", {}).items():
                schema(f"{where} request {media}", content.get("schema"))
    limits = spec.document.get("x-webhook-endpoints")
    if isinstance(limits, Mapping):
        need("#/x-webhook-endpoints", limits, [k for k in limits if k != EXTENSION])
    return missing
