"""The spec's webhook rules as data: what MuleRouter's console lets a user register (``x-webhook-endpoints``)
and how a delivery is signed (``x-webhook-signature``).

Each number and reading is written once, in the spec; the mock and :mod:`sparkspec.webhook_signature`
read them from here. A value the toolkit cannot use is a :class:`~sparkspec.openapi.SpecError`, raised
when it is read, so that a spec edited by hand fails at start rather than in the middle of a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sparkspec.openapi import ApiSpec, SpecError
from sparkspec.webhook_signature import ENCODINGS, KEY_READINGS, Encoding, KeyReading

ENDPOINTS_EXTENSION = "x-webhook-endpoints"
SIGNATURE_EXTENSION = "x-webhook-signature"


@dataclass(frozen=True, slots=True)
class EndpointLimits:
    """``x-webhook-endpoints``: how many endpoints a user may register, and how long a URL and a
    description may be (in characters)."""

    max_endpoints: int
    url_max_length: int
    description_max_length: int
    node: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WebhookSigning:
    """``x-webhook-signature``: the readings this contract takes where the docs are silent (how the
    digest is written, which part of the secret is the key), and how old a signature may be."""

    encoding: Encoding
    key: KeyReading
    tolerance: float
    node: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def endpoint_limits(spec: ApiSpec) -> EndpointLimits:
    """The spec's ``x-webhook-endpoints`` (at the top of the document, beside ``webhooks``).

    Raises:
        SpecError: it is missing, or a limit is not a whole number from 1 up.
    """
    node = spec.document.get(ENDPOINTS_EXTENSION)
    if not isinstance(node, Mapping):
        raise SpecError(f"the spec has no {ENDPOINTS_EXTENSION} mapping")
    return EndpointLimits(
        max_endpoints=_count(node, "max-endpoints"),
        url_max_length=_count(node, "url-max-length"),
        description_max_length=_count(node, "description-max-length"),
        node=node,
    )


def webhook_signing(spec: ApiSpec) -> WebhookSigning:
    """The spec's ``x-webhook-signature`` (on the one parameter of ``components`` that carries it).

    Raises:
        SpecError: no parameter or more than one carries it, or a reading or the tolerance is not
            one this toolkit can sign and check with.
    """
    parameters = spec.document.get("components", {}).get("parameters", {})
    found = [p[SIGNATURE_EXTENSION] for p in parameters.values() if SIGNATURE_EXTENSION in p]
    if len(found) != 1 or not isinstance(found[0], Mapping):
        raise SpecError(f"exactly one parameter of components must carry an {SIGNATURE_EXTENSION} mapping")
    node = found[0]
    encoding, key, tolerance = node.get("encoding"), node.get("key"), node.get("tolerance-seconds")
    if encoding not in ENCODINGS:
        raise SpecError(f"{SIGNATURE_EXTENSION} encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
    if key not in KEY_READINGS:
        raise SpecError(f"{SIGNATURE_EXTENSION} key must be one of {', '.join(KEY_READINGS)}; got {key!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not math.isfinite(tolerance):
        raise SpecError(f"{SIGNATURE_EXTENSION} tolerance-seconds must be a number; got {tolerance!r}")
    if tolerance <= 0:
        raise SpecError(f"{SIGNATURE_EXTENSION} tolerance-seconds must be above 0; got {tolerance!r}")
    return WebhookSigning(cast(Encoding, encoding), cast(KeyReading, key), float(tolerance), node)


def _count(node: Mapping[str, Any], name: str) -> int:
    value = node.get(name)
    # bool is an int to Python, not to YAML's reader of the spec: `true` is no limit.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{ENDPOINTS_EXTENSION} {name} must be a whole number from 1 up; got {value!r}")
    return value
