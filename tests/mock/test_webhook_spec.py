"""The webhook rules the mock keeps are the spec's: change a number or a reading in a copy of the spec, and
the mock built from that copy keeps the changed one (``x-webhook-endpoints``, ``x-webhook-signature``)."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import httpx
import pytest

from contract_tests.conformance import ResponseChecker
from mockserver import ManualClock, Settings, SettingsError, WebhookReceiver, create_app
from mockserver.launcher import free_port
from mockserver.webhook_endpoints import EndpointError, Endpoints, TooManyEndpoints
from sparkspec.openapi import ApiSpec, SpecError
from sparkspec.webhook_rules import endpoint_limits
from sparkspec.webhook_signature import sign
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, SpecCheckedClient, serve

SECRET = "whsec_QUJDREVGR0hJSktMTU5PUA"  # Base64 after the prefix, so that every key reading takes it
ENDPOINTS = "/__mock/webhooks/endpoints"


def changed(spec: ApiSpec, extension: str, **values: Any) -> ApiSpec:
    """A copy of ``spec`` whose ``extension`` (found where the spec keeps it) says ``values`` instead
    (``max_endpoints=2`` changes ``max-endpoints``)."""
    document: Any = copy.deepcopy(dict(spec.document))
    node = document if extension == "x-webhook-endpoints" else document["components"]["parameters"]["WebhookSignature"]
    node[extension].update({name.replace("_", "-"): value for name, value in values.items()})
    return ApiSpec(document)


def test_a_spec_that_allows_two_endpoints_makes_the_admin_api_refuse_a_third_with_its_number(
    spec: ApiSpec, checker: ResponseChecker
) -> None:
    two = changed(spec, "x-webhook-endpoints", max_endpoints=2, url_max_length=40, description_max_length=10)
    with SpecCheckedClient(create_app(Settings(), clock=ManualClock(), spec=two), checker) as client:
        for number in range(2):
            assert client.post(ENDPOINTS, json={"url": f"https://hooks.example/{number}", "secret": SECRET}).is_success
        refused = client.post(ENDPOINTS, json={"url": "https://hooks.example/3", "secret": SECRET})
        assert refused.status_code == 409
        assert refused.json()["detail"] == "at most 2 webhook endpoints, as the console allows; remove one first"
        assert client.get(ENDPOINTS).json()["max"] == 2
        client.delete(ENDPOINTS)
        too_long = client.post(ENDPOINTS, json={"url": "https://hooks.example/" + "a" * 19, "secret": SECRET})
        assert too_long.status_code == 400 and "at most 40 characters" in too_long.json()["detail"]
        assert "at most 2 endpoints" in too_long.json()["detail"]  # the usage names the spec's number too
        described = client.post(
            ENDPOINTS, json={"url": "https://hooks.example/", "secret": SECRET, "description": "d" * 11}
        )
        assert described.status_code == 400 and "at most 10 characters" in described.json()["detail"]
        assert client.post(ENDPOINTS, json={"url": "https://hooks.example/" + "a" * 18, "secret": SECRET}).is_success


def test_endpoints_keep_the_limits_they_are_given(spec: ApiSpec) -> None:
    limits = endpoint_limits(changed(spec, "x-webhook-endpoints", max_endpoints=2))
    endpoints = Endpoints("whole", limits=limits)
    endpoints.add("https://hooks.example/1", SECRET)
    endpoints.add("https://hooks.example/2", SECRET)
    with pytest.raises(TooManyEndpoints, match="at most 2 webhook endpoints"):
        endpoints.add("https://hooks.example/3", SECRET)
    with pytest.raises(TooManyEndpoints, match="at most 2 webhook endpoints"):
        Endpoints("whole", [(f"https://hooks.example/{n}", SECRET) for n in range(3)], limits=limits)
    with pytest.raises(EndpointError, match="at most 2048 characters"):
        Endpoints("whole", limits=limits).add("https://hooks.example/" + "a" * 2048, SECRET)


def test_more_webhook_urls_than_the_spec_allows_are_refused_when_the_app_is_built(spec: ApiSpec) -> None:
    three = Settings(webhook_urls=tuple(f"https://hooks.example/{n}" for n in range(3)), webhook_secret=SECRET)
    assert create_app(three, spec=spec).state.webhooks.active  # the spec allows five
    message = "webhook_urls: at most 2 endpoints (the spec's x-webhook-endpoints, as MuleRouter's console allows)"
    with pytest.raises(SettingsError, match=re.escape(message)):
        create_app(three, spec=changed(spec, "x-webhook-endpoints", max_endpoints=2))
    url = "https://hooks.example/?token=" + "t" * 30
    long = Settings(webhook_urls=(url,), webhook_secret=SECRET)
    with pytest.raises(SettingsError, match=f"at most 40 characters .*; got one of {len(url)}") as refused:
        create_app(long, spec=changed(spec, "x-webhook-endpoints", url_max_length=40))
    assert "token" not in str(refused.value)  # a URL may carry a secret of its own: only its length is shown


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"max_endpoints": 0}, "max-endpoints must be a whole number from 1 up; got 0"),
        ({"url_max_length": True}, "url-max-length must be a whole number from 1 up; got True"),
        ({"description_max_length": "200"}, "description-max-length must be a whole number from 1 up; got '200'"),
    ],
)
def test_a_limit_the_mock_cannot_keep_is_a_defect_of_the_spec(
    spec: ApiSpec, values: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(problem)):
        create_app(Settings(), spec=changed(spec, "x-webhook-endpoints", **values))


def test_the_signature_readings_are_the_spec_s_unless_a_setting_names_one(spec: ApiSpec) -> None:
    other = changed(spec, "x-webhook-signature", encoding="base64", key="after-prefix")
    webhooks = create_app(Settings(), spec=other).state.webhooks
    assert (webhooks.rules.encoding, webhooks.endpoints.key) == ("base64", "after-prefix")
    webhooks = create_app(Settings(), spec=spec).state.webhooks
    assert (webhooks.rules.encoding, webhooks.endpoints.key) == ("hex", "whole")
    named = Settings.from_env({"MOCK_WEBHOOK_SIGNATURE_ENCODING": "hex", "MOCK_WEBHOOK_KEY": "after-prefix-base64"})
    webhooks = create_app(named, spec=other).state.webhooks
    assert (webhooks.rules.encoding, webhooks.endpoints.key) == ("hex", "after-prefix-base64")


def test_a_secret_is_checked_under_the_spec_s_key_reading_when_no_setting_names_one(spec: ApiSpec) -> None:
    not_base64 = Settings(webhook_secret="whsec_a*b")  # a sound secret under the whole-secret reading
    create_app(not_base64, spec=spec)
    with pytest.raises(SettingsError, match=re.escape("webhook_secret: under the after-prefix-base64 reading")):
        create_app(not_base64, spec=changed(spec, "x-webhook-signature", key="after-prefix-base64"))


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"encoding": "base32"}, "x-webhook-signature encoding must be one of hex, base64; got 'base32'"),
        ({"key": "prefix"}, "x-webhook-signature key must be one of whole, after-prefix, after-prefix-base64"),
        ({"tolerance_seconds": 0}, "x-webhook-signature tolerance-seconds must be above 0; got 0"),
        ({"tolerance_seconds": "300"}, "x-webhook-signature tolerance-seconds must be a number; got '300'"),
    ],
)
def test_a_signature_reading_the_mock_cannot_sign_with_is_a_defect_of_the_spec(
    spec: ApiSpec, values: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(problem)):
        create_app(Settings(), spec=changed(spec, "x-webhook-signature", **values))


@pytest.mark.socket
def test_a_mock_built_from_a_spec_with_other_readings_signs_under_them(spec: ApiSpec) -> None:
    other = changed(spec, "x-webhook-signature", encoding="base64", key="after-prefix")
    with WebhookReceiver(SECRET, encoding="base64", key="after-prefix") as receiver:
        settings = Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET, webhook_backoff=0.01)
        app = create_app(settings, spec=other)
        with serve(app, free_port(), lifespan="on") as base, httpx.Client(base_url=base, headers=AUTH) as client:
            created = client.post(CREATE_PATH, json=VALID_BODY)
            assert created.status_code == 202, created.text
            started = time.monotonic()
            delivery = receiver.wait_for("task.created", created.json()["task_info"]["id"])
            assert time.monotonic() - started < 10
    assert delivery.verified, delivery.problem
    stamp = int(delivery.headers["x-mulerouter-webhook-timestamp"])
    delivery_id = delivery.headers["x-mulerouter-webhook-id"]
    signature = delivery.headers["x-mulerouter-webhook-signature"]
    assert signature == sign(SECRET, delivery_id, stamp, delivery.body, encoding="base64", key="after-prefix")
