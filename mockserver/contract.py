"""The contract adapter: request validation driven by the spec, through openapi-core.

openapi-core builds a JSON Schema validator for every schema it touches on every request
(codebase-style.md §4.1, pitfall 1). Here each validator is built once, from the ``OpenAPI``
object, when the app starts, and reused. Validation errors become :class:`Violation` objects
whose messages name the field and the rule, using the limits as the spec states them.

Formats that the spec defines itself (such as ``image-url-or-base64``) are registered on those
validators as checks that may raise: the exception says why a value is not of the format.

Each validator openapi-core builds gets an accelerator: jsonschema-rs, compiled from the same spec
with the very same format functions, answers "is this valid?" in microseconds, and only an invalid
request is walked by the Python validator, to say what is wrong. The verdict is the same either way
(tests/test_accelerated_validation.py checks that over generated requests); Python's jsonschema alone
would cap the mock near 4,000 creates a second.
"""

from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jsonschema_rs
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from openapi_core import OpenAPI
from openapi_core.validation.schemas import oas31_schema_validators_factory

from sparkspec.openapi import ApiSpec

MAX_REPORTED = 10
# rfc3986-validator's regex needs seconds for a string of megabytes (4.5 s for 14 MB). Longer
# strings fail the `uri` format without being scanned; the spec's maxLength for URLs is far below.
URI_SCAN_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class FormatCheck:
    """A check for a format the spec defines: returns truthy, or raises ``raises`` saying why not.

    ``shortcut``, if given, is a regular expression that only strings of the format match whole
    (a sufficient condition, not a necessary one): jsonschema-rs tries it first, natively, and calls
    ``check`` only for the strings it does not match. An image URL costs a create ~10 % of its
    throughput when Python is called to check it.
    """

    check: Callable[[object], bool]
    raises: type[Exception]
    shortcut: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the field (a dotted path, or ``body``), the JSON Schema keyword, and a message."""

    field: str
    rule: str
    message: str


class Contract:
    """Validators for the requests of every operation in the spec, built once."""

    def __init__(self, spec: ApiSpec, formats: Mapping[str, FormatCheck] | None = None) -> None:
        self.spec = spec
        self._formats = dict(formats or {})
        self.openapi_document = spec.localized("/")
        # What jsonschema-rs compiles: the document with each format's shortcut tried before its check.
        shortcuts = {name: f.shortcut for name, f in self._formats.items() if f.shortcut is not None}
        self._fast_document = _with_shortcuts(self.openapi_document, shortcuts)
        # Building the OpenAPI object validates the spec itself: a broken spec fails here, at start.
        self.openapi = OpenAPI.from_dict(copy.deepcopy(self.openapi_document))
        root = self.openapi.spec
        self._bodies: dict[str, Any] = {}
        self._parameters: dict[tuple[str, str], Any] = {}
        for op in spec.operations.values():
            node = root / "paths" / op.path / op.method.lower()
            pointer = f"#/paths/{_escape(op.path)}/{op.method.lower()}"
            if "requestBody" in op.node:
                schema = node / "requestBody" / "content" / "application/json" / "schema"
                where = f"{pointer}/requestBody/content/application~1json/schema"
                self._bodies[op.operation_id] = self._validator(root, schema, where)
            for index, parameter in enumerate(op.node.get("parameters", ())):
                schema = node / "parameters" / index / "schema"
                where = f"{pointer}/parameters/{index}/schema"
                self._parameters[(op.operation_id, parameter["name"])] = self._validator(root, schema, where)
        self._defaults = {op_id: spec.request_defaults(op_id) for op_id in self._bodies}

    def body_violations(self, operation_id: str, body: Any) -> list[Violation]:
        """Every way ``body`` breaks the operation's request schema (at most ten), in field order."""
        validator = self._bodies[operation_id].validator
        if validator.is_valid(body):  # the common case, answered by jsonschema-rs alone
            return []
        errors = validator.python.iter_errors(body)
        found = [error for error, _ in zip(errors, range(MAX_REPORTED), strict=False)]
        violations = [describe(error) for error in found]
        for error in found:
            _release(error)
        # A value of the wrong type breaks every other rule of its field too; the type says it all.
        mistyped = {v.field for v in violations if v.rule == "type"}
        violations = [v for v in violations if v.rule == "type" or v.field not in mistyped]
        return sorted(violations, key=lambda v: (v.field, v.rule))

    def with_defaults(self, operation_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` with the spec's ``default`` filled in for each absent top-level field."""
        return {**self._defaults[operation_id], **body}

    def parameter_is_valid(self, operation_id: str, name: str, value: Any) -> bool:
        return bool(self._parameters[(operation_id, name)].validator.is_valid(value))

    def _validator(self, root: Any, schema: Any, pointer: str) -> Any:
        validator = oas31_schema_validators_factory.create(root, schema)
        # Each validator owns a copy of the format checker, so adding to it touches nothing else.
        jsonschema_validator: Any = validator.validator
        checker: FormatChecker = jsonschema_validator.format_checker
        checker.checks("uri")(_bounded_uri(checker))
        for name, format_check in self._formats.items():
            checker.checks(name, raises=format_check.raises)(format_check.check)
        validator.validator = Accelerated(jsonschema_validator, self._compile(pointer, checker))  # type: ignore[assignment]
        return validator

    def _compile(self, pointer: str, checker: FormatChecker) -> Any:
        """jsonschema-rs for the schema at ``pointer``, with the Python validator's own format functions."""
        root = {"$schema": _DRAFT_2020_12, **self._fast_document, "$ref": quote(pointer, safe="#/~")}
        formats = {name: _boolean(function) for name, (function, _) in checker.checkers.items()}
        return jsonschema_rs.validator_for(root, formats=formats, validate_formats=True)


class Accelerated:
    """A jsonschema validator whose verdict comes from jsonschema-rs; the Python one explains refusals."""

    def __init__(self, python: Any, fast: Any) -> None:
        self.python = python
        self.fast = fast
        self.format_checker = python.format_checker

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(self.fast.is_valid(instance))
        except (ValueError, OverflowError, TypeError):  # a value jsonschema-rs cannot take in (a huge integer)
            return bool(self.python.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterable[ValidationError]:
        if self.is_valid(instance):
            return iter(())
        return self.python.iter_errors(instance)  # type: ignore[no-any-return]


def _release(error: ValidationError) -> None:
    """Free the frames a format check's exception holds: they hold the checked value in a reference
    cycle, which only the cyclic collector would free, some time later. For a 30 MB image that is
    30 MB a request until it runs."""
    cause = error.cause
    if cause is not None and cause.__traceback__ is not None:
        traceback.clear_frames(cause.__traceback__)
        cause.__traceback__ = None


def _with_shortcuts(node: Any, shortcuts: Mapping[str, str]) -> Any:
    """A copy of ``node`` in which a schema of a format with a shortcut holds if the string matches
    the shortcut's pattern, or else has the format."""
    if isinstance(node, list):
        return [_with_shortcuts(item, shortcuts) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_shortcuts(value, shortcuts) for key, value in node.items()}
    name = out.get("format")
    if isinstance(name, str) and name in shortcuts:
        del out["format"]
        either = {"anyOf": [{"pattern": f"^(?:{shortcuts[name]})$"}, {"format": name}]}
        out["allOf"] = [*out.get("allOf", []), either]
    return out


def _boolean(function: Callable[[Any], object]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        try:
            return bool(function(value))
        except Exception:  # a format check that raises says "not of this format"; the reason is for explaining
            return False

    return check


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _bounded_uri(checker: FormatChecker) -> Callable[[Any], bool]:
    scan = checker.checkers["uri"][0] if "uri" in checker.checkers else None
    if scan is None:
        raise RuntimeError("no `uri` format checker: install jsonschema[format-nongpl]")

    def check(value: Any) -> bool:
        if isinstance(value, str) and len(value) > URI_SCAN_LIMIT:
            return False
        return bool(scan(value))

    return check


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def describe(error: ValidationError) -> Violation:
    """A readable message for one JSON Schema error. It never echoes more than a snippet of the value."""
    field = _field(error.absolute_path)
    rule = str(error.validator)
    limit: Any = error.validator_value
    value: Any = error.instance
    if rule == "required":
        missing = [name for name in limit if isinstance(value, dict) and name not in value]
        field = _field([*error.absolute_path, missing[0]]) if missing else field
        return Violation(field, rule, f"{field}: is required")
    messages = {
        "maxLength": lambda: f"must be at most {limit} characters (got {_length(value)})",
        "minLength": lambda: f"must be at least {limit} characters (got {_length(value)})",
        "maximum": lambda: f"must be at most {limit} (got {_show(value)})",
        "minimum": lambda: f"must be at least {limit} (got {_show(value)})",
        "exclusiveMaximum": lambda: f"must be less than {limit} (got {_show(value)})",
        "exclusiveMinimum": lambda: f"must be greater than {limit} (got {_show(value)})",
        "enum": lambda: f"must be one of {', '.join(_show(v) for v in limit)} (got {_show(value)})",
        "const": lambda: f"must be {_show(limit)} (got {_show(value)})",
        "type": lambda: f"must be {_types(limit)} (got {_type_of(value)})",
        "format": lambda: f"must be a valid {limit} (got {_show(value)})",
        "pattern": lambda: f"must match the pattern {limit} (got {_show(value)})",
        "anyOf": lambda: f"must be {_alternatives(error)} (got {_show(value)})",
        "oneOf": lambda: f"must be {_alternatives(error)} (got {_show(value)})",
        "additionalProperties": lambda: f"has unexpected fields ({', '.join(_extra(value, error))})",
    }
    explain = messages.get(rule)
    if rule == "format" and error.cause is not None:
        text = _snippet(str(error.cause), 300)  # a format of the spec's own, saying why
    else:
        text = explain() if explain else _snippet(error.message, 200)
    return Violation(field, rule, f"{field}: {text}")


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _length(value: Any) -> str:
    return f"{len(value)}" if isinstance(value, str) else _show(value)


def _type_of(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _types(limit: Any) -> str:
    names = [limit] if isinstance(limit, str) else list(limit)
    return " or ".join("a JSON object" if n == "object" else n for n in names)


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = json.dumps(_snippet(value, 40), ensure_ascii=False)
        return shown + (f" ({len(value)} characters)" if len(value) > 40 else "")
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _snippet(text, 60)


def _snippet(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alternatives(error: ValidationError) -> str:
    titles: list[str] = []
    for branch in error.context or ():
        title = branch.schema.get("title") if isinstance(branch.schema, Mapping) else None
        if title and str(title) not in titles:
            titles.append(str(title))
    if not titles:
        return "one of the accepted forms"
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]


def _extra(value: Any, error: ValidationError) -> list[str]:
    allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
    return sorted(str(k) for k in value if k not in allowed)[:5] if isinstance(value, dict) else []
