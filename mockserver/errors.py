"""HTTP errors in the API's own shape: ``{"error_code", "title", "detail"}``.

The ``error_code`` of each status comes from ``x-error-code`` in the spec, per operation; where the
spec has none (an unknown path, say), it repeats the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

import orjson

from sparkspec.openapi import ApiSpec, SpecError

_TITLES = {400: "Invalid Request", 413: "Payload Too Large"}


class ApiError(Exception):
    """An error answer. Raise it anywhere below a route; the front door answers it."""

    def __init__(
        self, status: int, detail: str, *, error_code: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error_code = status if error_code is None else error_code
        self.headers = dict(headers or {})

    @property
    def title(self) -> str:
        return _TITLES.get(self.status) or HTTPStatus(self.status).phrase

    def body(self) -> bytes:
        """The JSON body: ``{"error_code", "title", "detail"}``."""
        fields = {"error_code": self.error_code, "title": self.title, "detail": self.detail}
        try:
            return orjson.dumps(fields)  # the same bytes as the standard library's, several times faster
        except TypeError:  # a lone surrogate in the detail, which orjson refuses to encode
            return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


class DropConnection(Exception):
    """No answer at all: the front door closes the connection (a fault a scenario asked for). Served
    in-process, where there is no connection, the exception reaches the client instead."""


def internal_error() -> ApiError:
    """The answer to a crash of the mock itself."""
    return ApiError(500, "Internal error in the mock; this is a bug, please report it")


class ErrorCatalog:
    """Builds :class:`ApiError` objects with the business code the spec gives each status."""

    def __init__(self, spec: ApiSpec) -> None:
        self._codes: dict[tuple[str, int], int] = {}
        for op in spec.operations.values():
            for status in spec.documented_statuses(op.operation_id):
                if status >= 400:
                    try:
                        self._codes[(op.operation_id, status)] = spec.response_error_code(op.operation_id, status)
                    except SpecError:
                        continue

    def error(
        self, status: int, detail: str, *, operation_id: str | None = None, headers: Mapping[str, str] | None = None
    ) -> ApiError:
        code = self._codes.get((operation_id or "", status), status)
        return ApiError(status, detail, error_code=code, headers=headers)

    def is_documented(self, operation_id: str, status: int) -> bool:
        return (operation_id, status) in self._codes
