"""Does a response conform to the spec? openapi-core's response validation, per exchange.

Each response is checked twice: against the spec as written (the contract's full reading) and
against :func:`~contract_tests.readings.documented_only`. What breaks the documented rules is a
violation; what breaks only the full reading is a deviation, labelled with the rule it breaks.

The same check serves the contract suites (against any target) and the project's own tests
(against the mock in-process), so there is one definition of a conforming response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import HeadersError, HeaderValidationError, MissingHeaderError

from contract_tests.readings import documented_only
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenance, Provenances


@dataclass(frozen=True, slots=True)
class Nonconformity:
    """One way a response breaks the spec: a stable check id, what is wrong, and what the spec says.

    ``label`` is ``None`` when a documented rule is broken, and the broken rule's label otherwise.
    """

    check: str
    problem: str
    label: Provenance | None = None

    @property
    def expected(self) -> str:
        return _EXPECTED.get(self.check, "a response that matches the spec")


_EXPECTED = {
    "response.status-documented": "a status code the spec documents for this operation",
    "response.content-type": "a content type the spec documents for this status (application/json)",
    "response.headers": "the headers the spec requires for this status, each matching its schema",
    "response.schema": "a body that matches the spec's schema for this status",
}


class ResponseChecker:
    """Checks status, content type, headers and body of a response against the spec."""

    def __init__(self, spec: ApiSpec, base_path: str = "") -> None:
        self.spec = spec
        self.labels = Provenances(spec)
        self.openapi = OpenAPI.from_dict(spec.localized("/"))
        documented = documented_only(spec)
        documented["servers"] = [{"url": "/"}]
        self.documented = OpenAPI.from_dict(documented)
        self.base_path = base_path.rstrip("/")
        # Each operation's path as a pattern, to find the response a problem belongs to.
        self._paths = [(op, re.compile(_pattern(op.path, op.path_parameters))) for op in spec.operations.values()]

    def problems(self, method: str, url: str, status: int, headers: dict[str, str], body: bytes) -> list[Nonconformity]:
        """Every way the response breaks the spec; empty when it conforms or is not for an operation.

        A problem that the documented rules alone also find has no label (a violation); the others
        carry the label of the contract's rule they break (a deviation).
        """
        path = urlsplit(url).path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        content_type = headers.get("content-type", "").split(";")[0].strip()
        request = MockRequest("http://target", method.lower(), path)
        response = MockResponse(body, status_code=status, headers=headers, content_type=content_type)
        full = self._errors(self.openapi, request, response, status, content_type)
        if full is None:
            return []  # not an operation of the spec (an asset URL, say)
        documented = [p for p, _ in self._errors(self.documented, request, response, status, content_type) or []]
        broken = {(p.check, p.problem) for p in documented}
        found = [
            problem
            if (problem.check, problem.problem) in broken
            else self._labelled(problem, where, method, path, status)
            for problem, where in full
        ]
        # Should the two documents ever word a problem differently, the documented one still counts.
        seen = {(p.check, p.problem) for p, _ in full}
        return found + [p for p in documented if (p.check, p.problem) not in seen]

    def _errors(
        self, openapi: OpenAPI, request: MockRequest, response: MockResponse, status: int, content_type: str
    ) -> list[tuple[Nonconformity, Sequence[Any]]] | None:
        found: list[tuple[Nonconformity, Sequence[Any]]] = []
        for error in openapi.iter_response_errors(request, response):
            if isinstance(error, PathNotFound | OperationNotFound):
                return None
            found.extend(_explain(error, status, content_type))
        return found

    def _labelled(
        self, problem: Nonconformity, where: Sequence[Any], method: str, path: str, status: int
    ) -> Nonconformity:
        """``problem`` with the label of the rule it breaks, found by walking the spec to it; a rule whose
        label cannot be found, or is documented, leaves it a violation (no label)."""
        response = self._response(method, path, status)
        label: Provenance | None = None
        if response is not None and problem.check == "response.content-type":
            label = self.labels.of(response).get("content-type")
        elif response is not None and problem.check == "response.headers" and where:
            header = self.spec.resolve(response.get("headers", {}).get(where[0]))
            if isinstance(header, Mapping) and len(where) > 1:
                label = self._label_at(header.get("schema"), where[1:])  # a value its schema refuses
            elif isinstance(header, Mapping):
                label = self.labels.of(header).get("required")
        elif response is not None and problem.check == "response.schema" and where:
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            label = self._label_at(schema, where)
        if label is None or label.documented:
            return problem
        return Nonconformity(problem.check, problem.problem, label)

    def _response(self, method: str, path: str, status: int) -> Mapping[str, Any] | None:
        for op, pattern in self._paths:
            if op.method.lower() == method.lower() and pattern.fullmatch(path):
                found = self.spec.resolve(op.node.get("responses", {}).get(str(status)))
                return found if isinstance(found, Mapping) else None
        return None

    def _label_at(self, schema: Any, schema_path: Sequence[Any]) -> Provenance | None:
        """The label of the keyword at the end of ``schema_path`` (jsonschema's), walking from ``schema``."""
        node = self.spec.resolve(schema)
        for step in list(schema_path)[:-1]:
            if step == "$ref":
                continue
            node = self.spec.resolve(node)
            if isinstance(node, Mapping):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            else:
                return None
        return self.labels.of(self.spec.resolve(node)).get(str(list(schema_path)[-1]))


def _pattern(path: str, parameters: Sequence[str]) -> str:
    pattern = re.escape(path)
    for name in parameters:
        pattern = pattern.replace(re.escape("{" + name + "}"), "[^/]+")
    return pattern


def _explain(error: Exception, status: int, content_type: str) -> list[tuple[Nonconformity, Sequence[Any]]]:
    """The problems ``error`` stands for, each with where it is: a header's name, or a schema path."""
    if isinstance(error, ResponseNotFound):
        problem = f"status {status} is not documented for this operation"
        return [(Nonconformity("response.status-documented", problem), ())]
    if isinstance(error, MediaTypeNotFound) or isinstance(error.__cause__, MediaTypeNotFound):
        problem = f"content type {content_type or '(none)'} is not documented"
        return [(Nonconformity("response.content-type", problem), ())]
    if isinstance(error, MissingHeaderError):
        return [(Nonconformity("response.headers", f"required header {error.name} is missing"), (error.name,))]
    if isinstance(error, HeaderValidationError):
        name = str(getattr(error, "name", "?"))
        header_errors = getattr(error.__cause__, "schema_errors", None)
        if not header_errors:  # the value could not even be read as its schema's type
            problem = f"header {name}: {_short(str(error.__cause__ or error))}"
            return [(Nonconformity("response.headers", problem), (name, "type"))]
        return [
            (Nonconformity("response.headers", f"header {name}: {_short(e.message)}"), (name, *e.absolute_schema_path))
            for e in header_errors
        ]
    if isinstance(error, HeadersError):
        return [p for inner in error.context for p in _explain(inner, status, content_type)] or [
            (Nonconformity("response.headers", str(error)), ())
        ]
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return [
            (
                Nonconformity(
                    "response.schema", f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {_short(e.message)}"
                ),
                tuple(e.absolute_schema_path),
            )
            for e in schema_errors
        ]
    name = type(error).__name__
    check = "response.headers" if "Header" in name else "response.schema"
    return [(Nonconformity(check, _short(f"{name}: {cause or error}")), ())]


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
