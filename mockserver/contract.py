"""The contract adapter: request validation driven by the spec, through openapi-core.

openapi-core builds a JSON Schema validator for every schema it touches on every request
(its 0.23 release, at least). Here each validator is built once, from the ``OpenAPI``
object, when the app starts, and reused. Validation errors become :class:`RequestProblem` objects
whose messages name the field and the rule, using the limits as the spec states them.

Formats that the spec defines itself (such as ``image-url-or-base64``) are registered on those
validators as checks that may raise: the exception says why a value is not of the format.

Each validator openapi-core builds gets an accelerator: jsonschema-rs, compiled from the same spec
with the very same format functions, answers "is this valid?" in microseconds, and only an invalid
request is walked by the Python validator, to say what is wrong. The verdict is the same either way
(tests/mock/test_accelerated_validation.py checks that over generated requests); Python's jsonschema alone
would make validation most of a create's cost.
"""

from __future__ import annotations

import copy
import itertools
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

from mockserver.bodies import parse_json
from mockserver.problems import RequestProblem, describe_all, describe_native
from sparkspec.openapi import ApiSpec

MAX_REPORTED = 10
# Up to this size, a refused body is explained by jsonschema-rs (about twice as fast as Python's).
NATIVE_EXPLAIN_BYTES = 64 * 1024
_TOO_DEEP = RequestProblem("body", "depth", "body: nested too deeply to be checked")
# rfc3986-validator's regex needs seconds for a string of megabytes. Longer
# strings fail the `uri` format without being scanned; the spec's maxLength for URLs is far below.
URI_SCAN_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class FormatCheck:
    """A check for a format the spec defines: returns truthy, or raises ``raises`` saying why not.

    ``shortcut``, if given, is a regular expression that only strings of the format match whole
    (a sufficient condition, not a necessary one): jsonschema-rs tries it first, natively, and calls
    ``check`` only for the strings it does not match: a call into Python for every image URL would
    cost every create.
    """

    check: Callable[[object], bool]
    raises: type[Exception]
    shortcut: str | None = None


@dataclass(slots=True)
class Admission:
    """A request body as the contract read it.

    Attributes:
        body: The JSON as sent.
        read: The same, as the schema reads it (without the nulls read as absent).
        fields: ``read`` with the spec's defaults filled in; ``None`` when the body broke a rule.
        problems: The rules it broke (at most ten), in field order.

    Neither frozen nor a named tuple: one is made for every create, and either costs twice as much to make.
    """

    body: Any
    read: Any
    fields: dict[str, Any] | None
    problems: list[RequestProblem]


class Contract:
    """Validators for the requests of every operation in the spec, built once."""

    def __init__(
        self, spec: ApiSpec, formats: Mapping[str, FormatCheck] | None = None, *, nulls_absent: bool = False
    ) -> None:
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
        self._verdicts = {op_id: body.validator.fast.is_valid for op_id, body in self._bodies.items()}
        # nulls_absent: a null is read as an absent field, except in the fields a body requires.
        self._keep_nulls: dict[str, frozenset[str]] | None = None
        if nulls_absent:
            self._keep_nulls = {op: frozenset(spec.request_schema(op).get("required", ())) for op in self._bodies}

    def admit(self, operation_id: str, raw: bytes) -> Admission:
        """Read a request body as the operation's schema does: parse it, check it, and fill in the spec's
        defaults. :class:`~mockserver.bodies.MalformedBody` if it is not JSON at all."""
        body = parse_json(raw)
        read = body
        if self._keep_nulls is not None and isinstance(body, dict):
            keep = self._keep_nulls[operation_id]
            read = {name: value for name, value in body.items() if value is not None or name in keep}
        natively = len(raw) <= NATIVE_EXPLAIN_BYTES
        try:  # jsonschema-rs's verdict, asked here: two calls fewer for every valid body
            valid = self._verdicts[operation_id](read)
        except (ValueError, OverflowError, TypeError, RecursionError):  # a value it cannot take in
            problems = self.body_problems(operation_id, read, natively=natively)
        else:
            problems = [] if valid else self._explain(operation_id, read, natively=natively)
        fields = None if problems else {**self._defaults[operation_id], **read}
        return Admission(body, read, fields, problems)  # positional: the cheapest way to make one

    def body_problems(self, operation_id: str, body: Any, *, natively: bool = True) -> list[RequestProblem]:
        """Every way ``body`` breaks the operation's request schema (at most ten), in field order.

        ``natively``: explained by jsonschema-rs where it can. Not for a large body: each of its errors
        carries copies of the value it is about (a 30 MB image made a create's peak memory 600 MB).
        """
        try:
            if self._bodies[operation_id].validator.is_valid(body):  # the common case: jsonschema-rs alone
                return []
        except RecursionError:  # a large body nested deeper than the validator can follow
            return [_TOO_DEEP]
        return self._explain(operation_id, body, natively=natively)

    def _explain(self, operation_id: str, body: Any, *, natively: bool) -> list[RequestProblem]:
        """The problems of a body known to be invalid."""
        validator = self._bodies[operation_id].validator
        try:
            problems = validator.native_problems(body) if natively else None
            if problems is None:
                errors = validator.python.iter_errors(body)
                found = [error for error, _ in zip(errors, range(MAX_REPORTED), strict=False)]
                problems = describe_all(found)
                for error in found:
                    _release(error)
        except RecursionError:
            return [_TOO_DEEP]
        # A value of the wrong type breaks every other rule of its field too; the type says it all.
        mistyped = {p.field for p in problems if p.rule == "type"}
        problems = [p for p in problems if p.rule == "type" or p.field not in mistyped]
        return sorted(problems, key=lambda p: (p.field, p.rule))

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

    def native_problems(self, instance: Any) -> list[RequestProblem] | None:
        """The problems of an invalid ``instance``, in :func:`describe`'s words, from jsonschema-rs alone;
        ``None`` where Python's validator must explain (a rule native errors lack the words for, or
        more problems than are reported: which ones Python would report is its to say)."""
        try:
            errors = list(itertools.islice(self.fast.iter_errors(instance), MAX_REPORTED))
        except (ValueError, OverflowError, TypeError):
            return None
        if not errors or len(errors) >= MAX_REPORTED:
            return None
        problems = []
        for error in errors:
            problem = describe_native(error, instance)
            if problem is None:
                return None
            problems.append(problem)
        return problems

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
