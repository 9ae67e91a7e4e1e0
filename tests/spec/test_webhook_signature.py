"""A receiver's check of a webhook's signature, under every reading of what the docs leave open."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sparkspec import openapi
from sparkspec.openapi import ApiSpec
from sparkspec.webhook_signature import (
    ENCODINGS,
    KEY_READINGS,
    Encoding,
    InvalidSignature,
    KeyReading,
    readings_that_verify,
    sign,
    signing_key,
    spec_readings,
    verify_signature,
)

SECRET = "whsec_QUJDREVGR0hJSktMTU5PUA"  # Base64 after the prefix, so that every key reading takes it
BODY = b'{"id":"evt_1","type":"task.created"}'
NOW = 1_767_225_600


def headers(signature: str, delivery_id: str = "dlv_1", stamp: int = NOW) -> dict[str, str]:
    return {
        "X-MuleRouter-Webhook-Id": delivery_id,
        "X-MuleRouter-Webhook-Timestamp": str(stamp),
        "X-MuleRouter-Webhook-Signature": signature,
    }


def test_the_default_is_a_hex_hmac_of_id_timestamp_and_body_keyed_with_the_whole_secret() -> None:
    """Written here with hmac and hashlib alone, from the docs' words."""
    digest = hmac.new(SECRET.encode(), b"dlv_1.%d." % NOW + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, "dlv_1", NOW, BODY) == "v1=" + digest
    verify_signature(SECRET, headers("v1=" + digest), BODY, now=NOW)


@pytest.mark.parametrize("key", KEY_READINGS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_reading_verifies_its_own_signatures_and_no_other(encoding: Encoding, key: KeyReading) -> None:
    signature = sign(SECRET, "dlv_1", NOW, BODY, encoding=encoding, key=key)
    verify_signature(SECRET, headers(signature), BODY, now=NOW, encoding=encoding, key=key)
    assert readings_that_verify(SECRET, headers(signature), BODY, now=NOW) == [(encoding, key)]


def test_the_other_readings_are_what_they_say() -> None:
    rest = SECRET.removeprefix("whsec_")
    assert signing_key(SECRET, "after-prefix") == rest.encode()
    assert signing_key(SECRET, "after-prefix-base64") == base64.b64decode(rest + "==")
    raw = hmac.new(rest.encode(), b"dlv_1.%d." % NOW + BODY, hashlib.sha256).digest()
    signature = sign(SECRET, "dlv_1", NOW, BODY, encoding="base64", key="after-prefix")
    assert signature == "v1=" + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"body": BODY + b" "}, "no v1 signature matches"),
        ({"delivery_id": "dlv_2"}, "no v1 signature matches"),
        ({"stamp": NOW - 1}, "no v1 signature matches"),
        ({"secret": SECRET + "x"}, "no v1 signature matches"),
        ({"stamp": NOW - 301, "signed_at": NOW - 301}, "301 s old (tolerance 300 s)"),
        ({"stamp": NOW + 400, "signed_at": NOW + 400}, "400 s far in the future"),
    ],
)
def test_a_changed_delivery_or_a_stale_one_is_refused(change: dict[str, object], problem: str) -> None:
    signed_at = int(str(change.get("signed_at", NOW)))
    signature = sign(SECRET, "dlv_1", signed_at, BODY)
    delivered = headers(signature, str(change.get("delivery_id", "dlv_1")), int(str(change.get("stamp", NOW))))
    body = change.get("body", BODY)
    assert isinstance(body, bytes)
    with pytest.raises(InvalidSignature, match=re.escape(problem)) as refused:
        verify_signature(str(change.get("secret", SECRET)), delivered, body, now=NOW)
    assert SECRET not in str(refused.value)


def test_the_time_check_can_be_left_out_to_replay_a_recorded_delivery() -> None:
    signature = sign(SECRET, "dlv_1", NOW - 86_400, BODY)
    verify_signature(SECRET, headers(signature, stamp=NOW - 86_400), BODY, now=NOW, tolerance=None)


def test_any_of_several_signatures_will_do_and_names_are_read_in_any_case() -> None:
    good = sign(SECRET, "dlv_1", NOW, BODY)
    pairs = [(name.upper(), value) for name, value in headers(f"v0=abc v1=deadbeef {good}").items()]
    verify_signature(SECRET, pairs, BODY, now=NOW)
    with pytest.raises(InvalidSignature, match="has no v1= signature"):
        verify_signature(SECRET, headers("v0=abc"), BODY, now=NOW)


@pytest.mark.parametrize("missing", ["X-MuleRouter-Webhook-Id", "X-MuleRouter-Webhook-Timestamp"])
def test_a_missing_header_is_named(missing: str) -> None:
    delivered = headers(sign(SECRET, "dlv_1", NOW, BODY))
    del delivered[missing]
    with pytest.raises(InvalidSignature, match=f"the {missing} header is missing"):
        verify_signature(SECRET, delivered, BODY, now=NOW)


@pytest.mark.parametrize(
    ("secret", "key", "problem"),
    [
        ("sk-secret-value", "whole", "starts with whsec_"),
        ("whsec_", "whole", "goes on after it"),
        ("whsec_has space", "whole", "without spaces"),
        ("whsec_not*base64", "after-prefix-base64", "is Base64"),
    ],
)
def test_a_secret_that_cannot_be_a_key_is_refused_without_being_shown(
    secret: str, key: KeyReading, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        signing_key(secret, key)
    assert secret == "whsec_" or secret not in str(refused.value)  # the bare prefix is in every such message


BundledSpec = Callable[..., None]


@pytest.fixture
def bundled_spec(spec: ApiSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BundledSpec]:
    """Make the spec this module reads its defaults from a copy whose ``x-webhook-signature`` says other
    values (``tolerance_seconds=600`` changes ``tolerance-seconds``)."""

    def use(**values: Any) -> None:
        document: Any = copy.deepcopy(dict(spec.document))
        signing = document["components"]["parameters"]["WebhookSignature"]["x-webhook-signature"]
        signing.update({name.replace("_", "-"): value for name, value in values.items()})
        path = tmp_path / "openapi.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        monkeypatch.setattr(openapi, "spec_path", lambda: path)
        spec_readings.cache_clear()

    yield use
    spec_readings.cache_clear()  # before the monkeypatch is undone: the next reading is the real spec's


def test_the_defaults_are_the_bundled_spec_s_read_once(spec: ApiSpec) -> None:
    signing = spec.document["components"]["parameters"]["WebhookSignature"]["x-webhook-signature"]
    assert spec_readings() == (signing["encoding"], signing["key"], float(signing["tolerance-seconds"]))
    assert spec_readings() is spec_readings()  # kept: a receiver reads no file per delivery


def test_a_changed_tolerance_in_the_spec_is_the_default_tolerance(bundled_spec: BundledSpec) -> None:
    signature = sign(SECRET, "dlv_1", NOW - 301, BODY)
    with pytest.raises(InvalidSignature, match=re.escape("301 s old (tolerance 300 s)")):
        verify_signature(SECRET, headers(signature, stamp=NOW - 301), BODY, now=NOW)
    bundled_spec(tolerance_seconds=600)
    verify_signature(SECRET, headers(signature, stamp=NOW - 301), BODY, now=NOW)
    with pytest.raises(InvalidSignature, match=re.escape("601 s old (tolerance 600 s)")):
        late = sign(SECRET, "dlv_1", NOW - 601, BODY)
        verify_signature(SECRET, headers(late, stamp=NOW - 601), BODY, now=NOW)
    with pytest.raises(InvalidSignature, match=re.escape("(tolerance 300 s)")):  # one given still wins
        verify_signature(SECRET, headers(late, stamp=NOW - 601), BODY, now=NOW, tolerance=300)


def test_changed_readings_in_the_spec_are_the_default_readings(bundled_spec: BundledSpec) -> None:
    bundled_spec(encoding="base64", key="after-prefix")
    signature = sign(SECRET, "dlv_1", NOW, BODY)
    assert signature == sign(SECRET, "dlv_1", NOW, BODY, encoding="base64", key="after-prefix")
    assert signing_key(SECRET) == SECRET.removeprefix("whsec_").encode()
    verify_signature(SECRET, headers(signature), BODY, now=NOW)
    with pytest.raises(InvalidSignature, match=re.escape("no v1 signature matches (hex digest, key: after-prefix)")):
        verify_signature(SECRET, headers(signature), BODY, now=NOW, encoding="hex")


def test_the_module_imports_nothing_heavy() -> None:
    """A receiver can use it without the toolkit's server: none of the mock's libraries comes in (the
    package's own start reads the spec with PyYAML, which is all), not even once it has read its defaults."""
    code = (
        "import sys, sparkspec.webhook_signature as w\n"
        "w.spec_readings()\n"
        "heavy = {'httpx', 'starlette', 'uvicorn', 'openapi_core', 'jsonschema', 'PIL'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
