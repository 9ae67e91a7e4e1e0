"""Does a response conform to the spec? openapi-core's response validation, per exchange.

The same check serves the contract suites (against any target) and the project's own tests
(against the mock in-process), so there is one definition of a conforming response.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import HeadersError, MissingHeaderError

from mockserver.spec import ApiSpec


@dataclass(frozen=True, slots=True)
class Nonconformity:
    """One way a response breaks the spec: a stable check id, what is wrong, and what the spec says."""

    check: str
    problem: str

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
        self.openapi = OpenAPI.from_dict(spec.localized("/"))
        self.base_path = base_path.rstrip("/")

    def problems(self, method: str, url: str, status: int, headers: dict[str, str], body: bytes) -> list[Nonconformity]:
        """Every way the response breaks the spec; empty when it conforms or is not for an operation."""
        path = urlsplit(url).path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        content_type = headers.get("content-type", "").split(";")[0].strip()
        request = MockRequest("http://target", method.lower(), path)
        response = MockResponse(body, status_code=status, headers=headers, content_type=content_type)
        found: list[Nonconformity] = []
        for error in self.openapi.iter_response_errors(request, response):
            if isinstance(error, PathNotFound | OperationNotFound):
                return []  # not an operation of the spec (an asset URL, say): nothing to check
            found.extend(_explain(error, status, content_type))
        return found


def _explain(error: Exception, status: int, content_type: str) -> list[Nonconformity]:
    if isinstance(error, ResponseNotFound):
        return [Nonconformity("response.status-documented", f"status {status} is not documented for this operation")]
    if isinstance(error, MediaTypeNotFound) or isinstance(error.__cause__, MediaTypeNotFound):
        return [Nonconformity("response.content-type", f"content type {content_type or '(none)'} is not documented")]
    if isinstance(error, MissingHeaderError):
        return [Nonconformity("response.headers", f"required header {error.name} is missing")]
    if isinstance(error, HeadersError):
        return [p for inner in error.context for p in _explain(inner, status, content_type)] or [
            Nonconformity("response.headers", str(error))
        ]
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return [
            Nonconformity("response.schema", f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {_short(e.message)}")
            for e in schema_errors
        ]
    name = type(error).__name__
    check = "response.headers" if "Header" in name else "response.schema"
    return [Nonconformity(check, _short(f"{name}: {cause or error}"))]


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
