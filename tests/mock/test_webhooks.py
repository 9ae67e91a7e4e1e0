"""Webhooks over real sockets: the mock served by uvicorn sends them to a receiver on a port of its own,
when each task reaches that status on the mock's clock; signed, retried, logged, and never in the way."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from mockserver import ManualClock, Settings, WebhookReceiver, create_app
from mockserver.clock import Clock
from mockserver.launcher import free_port
from sparkspec.webhook_signature import verify_signature
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, poll_path, serve, webhook_log

pytestmark = pytest.mark.socket
SECRET = "whsec_" + "5f1e" * 8
ENVELOPE = {"id", "type", "created_at", "data"}


@contextmanager
def mock_sending_to(url: str, clock: Clock | None = None, **settings: Any) -> Iterator[httpx.Client]:
    """The mock on a socket, with its lifespan, sending its webhooks to ``url``; a client of it."""
    options = {"webhook_urls": (url,), "webhook_secret": SECRET, "webhook_backoff": 0.01, **settings}
    app = create_app(Settings(**options), clock=clock)
    with serve(app, free_port(), lifespan="on") as base, httpx.Client(base_url=base, headers=AUTH) as client:
        yield client


def create(client: httpx.Client, **headers: str) -> str:
    response = client.post(CREATE_PATH, json=VALID_BODY, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["task_info"]["id"])


def signed_as_documented(headers: dict[str, str], body: bytes) -> bool:
    """The docs' HMAC, written here from their words alone: hex SHA-256 of id.timestamp.body, whole secret."""
    signed = f"{headers['x-mulerouter-webhook-id']}.{headers['x-mulerouter-webhook-timestamp']}.".encode() + body
    expected = "v1=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-mulerouter-webhook-signature"])


def test_webhooks_arrive_for_a_succeeded_and_a_failed_task_signed_and_as_a_poll_answers() -> None:
    with WebhookReceiver(SECRET) as receiver, mock_sending_to(receiver.url) as client:
        started = time.monotonic()
        succeeds = create(client)
        fails = create(client, **{"X-Mock-Scenario": "fail=3001"})
        client.post("/__mock/clock/advance", json={"seconds": 600})  # tasks take minutes on the mock's clock
        for task_id, end, status in ((succeeds, "task.succeeded", "succeeded"), (fails, "task.failed", "failed")):
            first = receiver.wait_for("task.created", task_id)
            last = receiver.wait_for(end, task_id)
            for delivery in (first, last):
                verify_signature(SECRET, delivery.headers, delivery.body)
                assert signed_as_documented(delivery.headers, delivery.body)
                assert delivery.method == "POST" and delivery.headers["content-type"] == "application/json"
                assert delivery.headers["user-agent"].startswith("spark-mock-webhooks/")
                event = json.loads(delivery.body)
                assert set(event) == ENVELOPE and event["data"]["vendor"] == "mulerouter"
                assert event["data"]["model_name"] == "wan2.6-i2v-spark"
            assert first.json()["data"]["payload"]["task_info"]["status"] == "queued"
            payload = last.json()["data"]["payload"]
            assert payload["task_info"]["status"] == status
            assert payload == client.get(poll_path(task_id)).json()  # what a poll answers
        assert last.json()["data"]["payload"]["task_info"]["error"]["code"] == 3001
        ids = [d.headers["x-mulerouter-webhook-id"] for d in receiver.deliveries()]
        assert len(ids) == len(set(ids)) == 4  # one delivery per event: none retried, none sent twice
        assert time.monotonic() - started < 30


def test_a_receiver_that_answers_500_twice_gets_the_third_try_and_the_log_shows_all_three() -> None:
    with WebhookReceiver(SECRET) as receiver, mock_sending_to(receiver.url) as client:
        receiver.answer_with(500, 500)
        task_id = create(client)
        log = webhook_log(client, lambda log: len(log["attempts"]) >= 3)
        tries = receiver.deliveries("task.created", task_id)
        assert [d.status for d in tries] == [500, 500, 200]
        assert len({d.headers["x-mulerouter-webhook-id"] for d in tries}) == 1  # a retry keeps its delivery id
        assert all(d.verified for d in tries)  # each signed afresh
        shown = [(a["attempt"], a["status"], a["error"], a["type"], a["task_id"]) for a in log["attempts"]]
        assert shown == [(n, s, None, "task.created", task_id) for n, s in ((1, 500), (2, 500), (3, 200))]
        assert all(a["seconds"] >= 0 and a["url"] == receiver.url for a in log["attempts"])
        assert log["attempts_total"] == 3 and log["pending_events"] == 1  # task.succeeded, minutes away
        assert SECRET not in json.dumps(log) and SECRET[6:] not in json.dumps(log)
        assert client.delete("/__mock/webhooks").json()["attempts"] == []


def test_a_manual_clock_moved_by_the_test_sends_task_succeeded_without_waiting() -> None:
    clock = ManualClock()
    with WebhookReceiver(SECRET) as receiver, mock_sending_to(receiver.url, clock=clock) as client:
        task_id = create(client)
        receiver.wait_for("task.created", task_id)
        time.sleep(0.2)
        assert receiver.deliveries("task.succeeded") == []  # the clock has not moved: the task is queued
        clock.advance(600)  # on the clock itself: no request tells the mock
        moved = time.monotonic()
        delivery = receiver.wait_for("task.succeeded", task_id, timeout=5)
        assert time.monotonic() - moved < 4  # seen at the next look at the clock, a second later at most (not 82 s)
        assert delivery.json()["created_at"] == client.get(poll_path(task_id)).json()["task_info"]["updated_at"]


def test_a_receiver_that_never_answers_costs_each_attempt_its_timeout_and_never_holds_up_the_api() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:  # connects, reads nothing, answers never
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with mock_sending_to(url, webhook_timeout=1.0, webhook_retries=0) as client:
            for _ in range(12):
                create(client)
            # Every create was answered while its delivery still waited for the receiver.
            assert client.get("/__mock/webhooks").json()["attempts"] == []
            log = webhook_log(client, lambda log: len(log["attempts"]) >= 12)
            assert len(log["attempts"]) == 12
            assert {a["error"] for a in log["attempts"]} == {"no answer within 1 s"}
            assert all(a["status"] is None and 0.9 < a["seconds"] < 2 for a in log["attempts"])


def test_a_create_can_ask_for_balance_low_whatever_it_answers() -> None:
    with WebhookReceiver(SECRET) as receiver, mock_sending_to(receiver.url) as client:
        refused = client.post(CREATE_PATH, json=VALID_BODY, headers={"X-Mock-Scenario": "status=402; balance-low"})
        assert refused.status_code == 402
        delivery = receiver.wait_for("balance.low", None)
        assert delivery.verified and delivery.json()["type"] == "balance.low"
        assert signed_as_documented(delivery.headers, delivery.body)
        create(client)  # without the item: no further balance.low
        time.sleep(0.3)
        assert len(receiver.deliveries("balance.low")) == 1


def test_a_sender_that_goes_in_the_middle_of_a_body_has_made_no_delivery() -> None:
    """Seen in `make bench`: a mock stopped while its webhook process was sending left bodies cut short,
    which the receiver kept as deliveries signed wrong."""
    with WebhookReceiver(SECRET) as receiver:
        host, port = receiver.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as sender:
            sender.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"id": "evt_1"')
            sender.shutdown(socket.SHUT_WR)
            assert sender.recv(1024) == b""  # no answer: there was no request to answer
        whole = httpx.post(receiver.url, content=b"{}")  # one that arrives whole is kept, unsigned and all
        assert whole.status_code == 200
        assert [d.body for d in receiver.deliveries()] == [b"{}"]
