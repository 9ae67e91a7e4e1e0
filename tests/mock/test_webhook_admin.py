"""Webhook endpoints, settings and bounds, in-process: clear 4xx answers for bad input, never a secret shown,
a reset that forgets, and queues that stay bounded whatever falls due."""

from __future__ import annotations

import asyncio
import math
import re

import pytest

from mockserver import Settings, SettingsError, create_app
from mockserver.tasks import Failure, Phase, plan_task
from mockserver.webhook_delivery import QUEUED_DELIVERIES, Attempt, Courier, Delivery, DeliveryRules
from mockserver.webhook_endpoints import Endpoint
from mockserver.webhook_events import Schedule, task_events
from mockserver.webhooks import WebhookService
from tests.helpers import ClientFactory, SpecCheckedClient, create_ok, webhook_log

SECRET = "whsec_" + "a1b2" * 8
ENDPOINTS = "/__mock/webhooks/endpoints"


def test_endpoints_are_added_listed_and_removed_without_their_secrets(client: SpecCheckedClient) -> None:
    added = client.post(ENDPOINTS, json={"url": "https://u:p@hooks.example/in?token=t", "secret": SECRET})
    assert added.status_code == 201
    endpoint = added.json()["endpoint"]
    assert endpoint["url"] == "https://***@hooks.example/in?***" and "secret" not in added.json()
    made = client.post(ENDPOINTS, json={"url": "http://127.0.0.1:9/", "description": "mine"}).json()
    assert re.fullmatch(r"whsec_[0-9a-f]{48}", made["secret"])  # made by the mock, shown this once
    listed = client.get(ENDPOINTS).text
    assert SECRET not in listed and made["secret"] not in listed and "mine" in listed
    assert client.delete(f"{ENDPOINTS}/{endpoint['id']}").json()["endpoints"] == [made["endpoint"]]
    assert client.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 404
    assert client.delete(ENDPOINTS).json() == {"endpoints": [], "max": 5}


def test_a_sixth_endpoint_is_refused_with_409_in_the_api_s_error_shape(client: SpecCheckedClient) -> None:
    for number in range(5):
        assert client.post(ENDPOINTS, json={"url": f"https://hooks.example/{number}", "secret": SECRET}).is_success
    refused = client.post(ENDPOINTS, json={"url": "https://hooks.example/6", "secret": SECRET})
    assert refused.status_code == 409
    assert refused.json() == {
        "error_code": 409,
        "title": "Conflict",
        "detail": "at most 5 webhook endpoints, as the console allows; remove one first",
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "ftp://hooks.example/", "secret": SECRET}, "an http(s) URL with a host"),
        ({"url": "https://hooks.example:99999/", "secret": SECRET}, "an http(s) URL with a host"),
        ({"url": "https://hooks.example/" + "a" * 2048, "secret": SECRET}, "at most 2048 characters"),
        ({"url": "https://hooks.example/", "secret": "sk-not-a-webhook-secret"}, "starts with whsec_"),
        ({"url": "https://hooks.example/", "secret": 12}, "a string that starts with whsec_"),
        ({"url": "https://hooks.example/", "secret": SECRET, "description": "d" * 201}, "at most 200"),
        ({"url": "https://hooks.example/", "secret": SECRET, "events": ["task.created"]}, 'Send {"url"'),
        (["https://hooks.example/"], 'Send {"url"'),
    ],
)
def test_a_bad_endpoint_gets_400_that_says_why_and_shows_no_secret(
    client: SpecCheckedClient, body: object, problem: str
) -> None:
    refused = client.post(ENDPOINTS, json=body)
    assert refused.status_code == 400
    assert problem in refused.json()["detail"]
    assert "sk-not-a-webhook-secret" not in refused.text and SECRET not in refused.text


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"content": b"{nope"}, 400),
        ({"json": {"balance": "low"}}, 400),
        ({"json": {"balance": -1}}, 400),
        ({"json": {"balance": True}}, 400),
        ({"content": b"[]"}, 400),
        ({}, 409),  # no endpoint: it would go nowhere
    ],
)
def test_balance_low_takes_a_balance_or_nothing(
    client: SpecCheckedClient, request_args: dict[str, object], status: int
) -> None:
    assert client.post("/__mock/webhooks/balance-low", **request_args).status_code == status  # type: ignore[arg-type]


def test_the_log_s_limit_is_a_whole_number(client: SpecCheckedClient) -> None:
    assert client.get("/__mock/webhooks?limit=x").status_code == 400
    assert client.get("/__mock/webhooks?limit=0").json()["attempts"] == []


def test_a_reset_forgets_pending_events_and_brings_back_the_configured_endpoints(make_client: ClientFactory) -> None:
    configured = Settings(webhook_urls=("http://127.0.0.1:9/",), webhook_secret=SECRET)
    with make_client(configured) as client:  # the lifespan runs: events are scheduled on its loop
        create_ok(client)
        client.post(ENDPOINTS, json={"url": "https://hooks.example/", "secret": SECRET})
        before = webhook_log(client, lambda log: log["pending_events"] >= 1)  # task.succeeded, minutes away
        assert before["endpoints"] == 2
        client.post("/__mock/reset")
        after = client.get("/__mock/webhooks").json()
        assert (after["endpoints"], after["pending_events"], after["attempts"]) == (1, 0, [])


def test_with_no_endpoint_a_create_schedules_nothing_and_starts_nothing(client: SpecCheckedClient) -> None:
    create_ok(client)
    webhooks: WebhookService = client.app.state.webhooks  # type: ignore[attr-defined]
    assert not webhooks.active and not webhooks._link.running and webhooks._born == []


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MOCK_WEBHOOK_URLS": "https://hooks.example/"}, "webhook_urls need webhook_secret"),
        ({"MOCK_WEBHOOK_URLS": "hooks.example"}, "an http(s) URL with a host"),
        ({"MOCK_WEBHOOK_SECRET": "sk-mr-secret-value"}, "webhook_secret: a webhook secret starts with whsec_"),
        ({"MOCK_WEBHOOK_SECRET": "whsec_a*b", "MOCK_WEBHOOK_KEY": "after-prefix-base64"}, "is Base64"),
        ({"MOCK_WEBHOOK_SIGNATURE_ENCODING": "base32"}, "webhook_signature_encoding must be one of hex, base64"),
        ({"MOCK_WEBHOOK_KEY": "prefix"}, "webhook_key must be one of whole, after-prefix, after-prefix-base64"),
        ({"MOCK_WEBHOOK_RETRIES": "11"}, "webhook_retries must be between 0 and 10"),
        ({"MOCK_WEBHOOK_BACKOFF": "nan"}, "webhook_backoff must be a number of seconds from 0 to 60"),
        ({"MOCK_WEBHOOK_TIMEOUT": "0"}, "webhook_timeout must be a number of seconds above 0"),
        ({"MOCK_WEBHOOK_LOG_SIZE": "0"}, "webhook_log_size must be at least 1"),
    ],
)
def test_bad_webhook_settings_fail_loudly_without_showing_the_secret(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)) as refused:
        Settings.from_env(environ)
    assert "secret-value" not in str(refused.value) and "a*b" not in str(refused.value)


def test_the_secret_is_not_in_the_settings_repr() -> None:
    settings = Settings(webhook_urls=("https://hooks.example/",), webhook_secret=SECRET)
    assert SECRET not in repr(settings) and SECRET[6:] not in repr(settings)
    assert create_app(settings).state.webhooks.active


def test_a_task_s_events_follow_its_timeline() -> None:
    plain = plan_task("a", 100.0, 5, False, 1.0)
    assert task_events(plain, {"queued": 0.0, "running": 5.0, "succeeded": 90.0}) == [
        (100.0, "task.created"),
        (190.0, "task.succeeded"),
    ]
    failing = plan_task("b", 100.0, 5, False, 1.0, Failure(3001, "t", "d", Phase.QUEUED))
    assert [kind for _, kind in task_events(failing, {"queued": 0.0, "failed": 9.0})] == ["task.created", "task.failed"]
    stalled = plan_task("c", 100.0, 5, False, 1.0, stall=True)
    assert task_events(stalled, {"queued": 0.0, "running": 5.0, "succeeded": None}) == [(100.0, "task.created")]


def test_pending_events_and_queued_deliveries_are_bounded() -> None:
    schedule = Schedule(capacity=2)
    assert schedule.push(3.0, "task.created", None) and schedule.push(1.0, "task.created", None)
    assert not schedule.push(2.0, "task.created", None) and schedule.dropped == 1
    assert [e.due for e in schedule.pop_due(math.inf)] == [1.0, 3.0]

    async def fill() -> Courier:
        courier = Courier(DeliveryRules(retries=0, backoff=0, timeout=1, encoding="hex", key="whole"), attempts.append)
        courier.attach()
        endpoint = Endpoint("we_1", "http://127.0.0.1:9/", SECRET)
        for number in range(QUEUED_DELIVERIES + 5):
            courier.submit(Delivery(f"dlv_{number}", "evt", "task.created", None, endpoint, b"{}", 0))
        return courier

    attempts: list[Attempt] = []
    courier = asyncio.run(fill())
    assert (courier.waiting, courier.dropped) == (QUEUED_DELIVERIES, 5)
    courier.forget(1)
    assert (courier.waiting, courier.dropped, courier.generation) == (0, 0, 1)
    assert attempts == []  # none was sent: nothing served the queue
