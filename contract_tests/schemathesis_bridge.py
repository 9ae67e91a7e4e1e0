"""Schemathesis, wired to this contract: its cases travel through our :class:`Target`, its failures become
violations, and the spec's own image format gets a generator of real images.

Schemathesis' checks that send requests of their own (``ignored_auth`` and
``object_level_authorization`` send probes) are left out on purpose: a probe would slip past the
task budget. The auth suite checks authentication instead, through the budget.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple

import httpx
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contract_tests.findings import Finding, violation
from contract_tests.strategies import image_values
from contract_tests.target import Exchange, Target
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenances

RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Positive cases come from what every reading accepts, negative ones from what every reading refuses
# (contract_tests.readings); a case in between is neither, so each kind gets only its own check.
POSITIVE_CHECKS = [*RESPONSE_CHECKS, positive_data_acceptance]
NEGATIVE_CHECKS = [*RESPONSE_CHECKS, negative_data_rejection]
STATEFUL_CHECKS = [*POSITIVE_CHECKS, ensure_resource_availability]


def register_formats(spec: ApiSpec) -> None:
    """Teach Schemathesis the spec's own formats, so that positive cases carry real images, not noise.

    Only the forms every reading of the docs takes: raw Base64 (disputed) is left to the image suite.
    """
    labels = Provenances(spec)
    for schema in spec.schemas_with_extension("x-image-rules").values():
        rules = schema["x-image-rules"]
        raw = labels.of(rules).get("raw-base64")
        forms = image_values(rules, raw_base64=raw is None or raw.documented)
        schemathesis.openapi.format(schema["format"], forms)


class Sent(NamedTuple):
    """A case as sent: our exchange, Schemathesis' response, and whether it carried the run's key."""

    exchange: Exchange
    response: schemathesis.Response
    with_our_key: bool


def send_case(target: Target, case: Any) -> Sent:
    """Send a Schemathesis case through the target (and its budget)."""
    kwargs = case.as_transport_kwargs(base_url=target.base_url, headers=target.auth_header)
    sent_headers = {k.lower(): str(v) for k, v in kwargs.get("headers", {}).items()}
    # A negative case may replace the Authorization header: then a 401 is the right answer, not a lack of one.
    with_our_key = sent_headers.get("authorization") == target.auth_header["Authorization"]
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"], ensure_ascii=False).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data if isinstance(data, bytes) else str(data).encode()
    # A negative case may only have random extra headers; it is meant to be refused when its body is invalid.
    negative = bool(case.meta and case.meta.is_negative_at(ParameterLocation.BODY))
    exchange = target.request(
        kwargs["method"],
        kwargs["url"],
        headers={k: str(v) for k, v in kwargs.get("headers", {}).items()},
        content=content,
        params=kwargs.get("params") or None,
        meant_to_be_rejected=negative,
    )
    return Sent(exchange, to_schemathesis_response(exchange, kwargs, content), with_our_key)


def case_key(case: Any) -> str:
    """What identifies a case: its method, path, query and body (to judge it once, see ``Ledger.settled``)."""
    parts = [case.method, case.formatted_path, case.query, case.body]
    return "case:" + hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def to_schemathesis_response(
    exchange: Exchange, kwargs: dict[str, Any], content: bytes | None
) -> schemathesis.Response:
    """Schemathesis reads responses of httpx's shape; build one from the exchange (with the real key)."""
    request = SimpleNamespace(
        method=exchange.method,
        url=httpx.URL(exchange.url),
        headers={k: str(v) for k, v in kwargs.get("headers", {}).items()},
        content=content,
    )
    response = SimpleNamespace(
        request=request,
        status_code=exchange.status,
        headers=exchange.response_headers,
        content=exchange.response_body,
        elapsed=timedelta(seconds=exchange.elapsed),
        reason_phrase=httpx.codes.get_reason_phrase(exchange.status),
        encoding="utf-8",
        http_version="HTTP/1.1",
    )
    return schemathesis.Response.from_httpx_like(response, verify=True)


def violations_of(case: Any, response: schemathesis.Response, exchange: Exchange, checks: list[Any]) -> list[Finding]:
    """Run Schemathesis' checks on one response; each failure becomes a violation."""
    try:
        case.validate_response(response, checks=checks)
    except BaseExceptionGroup as group:  # Schemathesis' FailureGroup: every check that failed
        return [_as_violation(leaf, exchange) for leaf in _leaves(group)]
    except AssertionError as failure:
        return [_as_violation(failure, exchange)]
    return []


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def _as_violation(failure: BaseException, exchange: Exchange) -> Finding:
    code = getattr(failure, "code", "ST900")
    title = getattr(failure, "title", type(failure).__name__)
    message = getattr(failure, "message", str(failure)) or title
    return violation(f"schemathesis.{code}", f"Schemathesis: {title}", message.strip(), exchange)
