"""Signing and checking webhook deliveries as MuleRouter documents them (api-facts §8).

A delivery carries ``X-MuleRouter-Webhook-Id``, ``X-MuleRouter-Webhook-Timestamp`` (Unix seconds) and
``X-MuleRouter-Webhook-Signature: v1=<digest>``, the digest an HMAC-SHA256 of
``"{id}.{timestamp}.{raw body}"`` keyed with the endpoint's ``whsec_...`` secret.

Two things the docs leave open, each an assumption of this toolkit (``x-webhook-signature`` in the spec):

- the digest's encoding: ``hex`` (the spec's: the ``v1=`` form is Stripe's, whose digest is hex, and a
  receiver written from the docs' sample calls ``hexdigest()``) or ``base64``;
- the key: the ``whole`` secret as UTF-8 (the spec's: the secret is handed over as one string, as
  Stripe's ``whsec_`` secrets are used), the part ``after-prefix``, or that part Base64-decoded
  (``after-prefix-base64``, Svix's reading of a ``whsec_`` secret).

An argument left out (or ``None``) takes the spec's reading, and the tolerance the spec's
``tolerance-seconds`` (the docs' sample: 300 s): the bundled spec is read for them once, the first time
one is needed. Nothing of the toolkit's server is imported: a receiver can use this module without it.

>>> headers = {"X-MuleRouter-Webhook-Id": "dlv_1", "X-MuleRouter-Webhook-Timestamp": "1767225600"}
>>> headers["X-MuleRouter-Webhook-Signature"] = sign("whsec_abc", "dlv_1", 1767225600, b"{}")
>>> verify_signature("whsec_abc", headers, b"{}", now=1767225610)
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Final, Literal, get_args

ID_HEADER = "X-MuleRouter-Webhook-Id"
TIMESTAMP_HEADER = "X-MuleRouter-Webhook-Timestamp"
SIGNATURE_HEADER = "X-MuleRouter-Webhook-Signature"
SECRET_PREFIX = "whsec_"
VERSION = "v1"

Encoding = Literal["hex", "base64"]
KeyReading = Literal["whole", "after-prefix", "after-prefix-base64"]
ENCODINGS: tuple[Encoding, ...] = get_args(Encoding)
KEY_READINGS: tuple[KeyReading, ...] = get_args(KeyReading)


class SpecDefault(enum.Enum):
    """A tolerance left to the spec (``None`` already means: no time check)."""

    TOLERANCE = "the spec's tolerance-seconds"


#: The default of every ``tolerance`` argument: the spec's ``tolerance-seconds``.
SPEC_TOLERANCE: Final = SpecDefault.TOLERANCE
Tolerance = float | None | Literal[SpecDefault.TOLERANCE]


class InvalidSignature(ValueError):
    """A delivery that must not be trusted. The message says why; it never shows the secret."""


def check_secret(secret: str) -> None:
    """Check what every key reading asks of a secret (a ``whsec_`` prefix, something after it, printable
    ASCII); :func:`signing_key` checks the rest of a reading's own.

    Raises:
        ValueError: the secret is not of that form. The message never shows the secret.
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) == len(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX} and goes on after it")
    if not secret.isascii() or any(c.isspace() for c in secret):
        raise ValueError("a webhook secret is printable ASCII without spaces")


def signing_key(secret: str, key: KeyReading | None = None) -> bytes:
    """The HMAC key that ``secret`` stands for under the ``key`` reading (the spec's, by default).

    Raises:
        ValueError: the secret does not start with ``whsec_``, has nothing after it, or (for
            ``after-prefix-base64``) is not Base64 after it. The message never shows the secret.
    """
    key = spec_readings()[1] if key is None else key
    if key not in KEY_READINGS:
        raise ValueError(f"the key reading must be one of {', '.join(KEY_READINGS)}")
    check_secret(secret)
    if key == "whole":
        return secret.encode()
    rest = secret[len(SECRET_PREFIX) :]
    if key == "after-prefix":
        return rest.encode()
    try:
        return base64.b64decode(rest + "=" * (-len(rest) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"under the after-prefix-base64 reading, the secret after {SECRET_PREFIX} is Base64") from None


def sign(
    secret: str,
    delivery_id: str,
    timestamp: int,
    body: bytes,
    *,
    encoding: Encoding | None = None,
    key: KeyReading | None = None,
) -> str:
    """The ``X-MuleRouter-Webhook-Signature`` value of a delivery: ``v1=<digest>`` (the spec's readings
    where ``encoding`` or ``key`` is left out)."""
    encoding, key = _readings(encoding, key)
    return f"{VERSION}={_digest(signing_key(secret, key), delivery_id, str(timestamp), body, encoding)}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    *,
    tolerance: Tolerance = SPEC_TOLERANCE,
    now: float | None = None,
    encoding: Encoding | None = None,
    key: KeyReading | None = None,
) -> None:
    """Check a delivery as a receiver should, before it reads the body; return quietly when it is sound.

    Args:
        secret: The endpoint's ``whsec_...`` signing secret.
        headers: The delivery's headers (any capitalisation; a mapping or name-value pairs).
        body: The raw body, exactly as it came (not parsed and dumped again).
        tolerance: Seconds the timestamp may be from ``now``, either way; by default the spec's
            ``tolerance-seconds`` (the docs' sample: 300). ``None`` skips that check (to replay a
            recorded delivery).
        now: The receiver's time, Unix seconds; the system clock by default.
        encoding: How the digest is written: ``hex`` or ``base64`` (the docs do not say); by default
            the spec's reading.
        key: Which part of the secret is the key: ``whole``, ``after-prefix`` or ``after-prefix-base64``;
            by default the spec's reading.

    Raises:
        InvalidSignature: a header is missing or malformed, the timestamp is out of tolerance, or no
            ``v1`` signature of the header matches (compared in constant time).

    Example:
        >>> verify_signature(secret, request.headers, await request.body())  # doctest: +SKIP
    """
    encoding, key = _readings(encoding, key)
    if tolerance is SPEC_TOLERANCE:
        tolerance = spec_readings()[2]
    found = _lower(headers)
    delivery_id, stamp, signatures = (_needed(found, name) for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not a whole number of Unix seconds")
    if tolerance is not None:
        drift = (time.time() if now is None else now) - int(stamp)
        if abs(drift) > tolerance:
            when = "old" if drift > 0 else "far in the future"
            raise InvalidSignature(f"{TIMESTAMP_HEADER} is {abs(drift):.0f} s {when} (tolerance {tolerance:g} s)")
    try:
        expected = _digest(signing_key(secret, key), delivery_id, stamp, body, encoding).encode()
    except ValueError as exc:
        raise InvalidSignature(str(exc)) from None
    offered = [
        value.encode() for version, _, value in (p.partition("=") for p in signatures.split()) if version == VERSION
    ]
    if not offered:
        raise InvalidSignature(f"{SIGNATURE_HEADER} has no {VERSION}= signature")
    # Every offered signature is compared, so the time taken says nothing about which came close.
    if not sum(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature(f"no {VERSION} signature matches ({encoding} digest, key: {key})")


def readings_that_verify(
    secret: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    *,
    tolerance: Tolerance = SPEC_TOLERANCE,
    now: float | None = None,
) -> list[tuple[Encoding, KeyReading]]:
    """Every reading (digest encoding, key) under which the delivery verifies: for a check that tells a
    sender who took another reading of the docs from one whose signatures are wrong."""
    found: list[tuple[Encoding, KeyReading]] = []
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for encoding in ENCODINGS:
        for key in KEY_READINGS:
            try:
                verify_signature(secret, pairs, body, tolerance=tolerance, now=now, encoding=encoding, key=key)
            except InvalidSignature:
                continue
            found.append((encoding, key))
    return found


@functools.cache
def spec_readings() -> tuple[Encoding, KeyReading, float]:
    """The bundled spec's ``x-webhook-signature``: its digest encoding, key reading and tolerance in
    seconds, the defaults of this module's functions.

    Read the first time it is asked for, and kept: importing this module reads no file, and the spec
    stays the one place where these readings are written.
    """
    # Imported here, not above: sparkspec.webhook_rules imports this module's types.
    from sparkspec.openapi import ApiSpec
    from sparkspec.webhook_rules import webhook_signing

    rules = webhook_signing(ApiSpec.load())
    return rules.encoding, rules.key, rules.tolerance


def _readings(encoding: Encoding | None, key: KeyReading | None) -> tuple[Encoding, KeyReading]:
    if encoding is not None and key is not None:
        return encoding, key  # both given: the spec need not be read
    spec_encoding, spec_key, _ = spec_readings()
    return (spec_encoding if encoding is None else encoding), (spec_key if key is None else key)


def _digest(key: bytes, delivery_id: str, timestamp: str, body: bytes, encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"the digest encoding must be one of {', '.join(ENCODINGS)}")
    mac = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest() if encoding == "hex" else base64.b64encode(mac.digest()).decode()


def _needed(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise InvalidSignature(f"the {name} header is missing")
    return value


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for name, value in pairs:
        found.setdefault(name.lower(), value)
    return found
