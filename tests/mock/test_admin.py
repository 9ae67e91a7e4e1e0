"""The admin API under /__mock: reset, clock, journal, tasks, and the served spec."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from contract_tests.images import data_uri, make_image
from mockserver import Settings
from mockserver.clock import ManualClock
from mockserver.journal import pack_headers, unpack_headers
from sparkspec.openapi import ApiSpec
from sparkspec.redaction import MAX_HEADERS
from tests.helpers import AUTH, VALID_BODY, ClientFactory, SpecCheckedClient, create, create_ok, poll, poll_path


def test_health(client: SpecCheckedClient) -> None:
    create_ok(client)
    assert client.get("/__mock/health").json() == {"status": "ok", "tasks": 1, "requests": 1, "worker": os.getpid()}


def test_advancing_the_clock_moves_tasks(client: SpecCheckedClient) -> None:
    task_id = create_ok(client)
    before = client.get("/__mock/clock").json()
    assert before["offset_seconds"] == 0
    after = client.post("/__mock/clock/advance", json={"seconds": 600}).json()
    assert after["offset_seconds"] == 600
    assert poll(client, task_id)["task_info"]["status"] == "succeeded"


@pytest.mark.parametrize("payload", [{}, {"seconds": -1}, {"seconds": "10"}, {"seconds": True}, [], {"seconds": 1e12}])
def test_the_clock_only_moves_forwards_by_a_number(client: SpecCheckedClient, payload: object) -> None:
    response = client.post("/__mock/clock/advance", json=payload)
    assert response.status_code == 400
    assert response.json()["detail"].startswith('Send {"seconds"')


def test_advance_refuses_malformed_json(client: SpecCheckedClient) -> None:
    response = client.post("/__mock/clock/advance", content=b"{nope")
    assert response.status_code == 400


def test_reset_forgets_tasks_and_requests_and_rewinds_the_clock(client: SpecCheckedClient) -> None:
    task_id = create_ok(client)
    client.post("/__mock/clock/advance", json={"seconds": 50})
    body = client.post("/__mock/reset").json()
    assert body["reset"] is True and body["offset_seconds"] == 0
    assert client.get(poll_path(task_id), headers=AUTH).status_code == 404
    journal = client.get("/__mock/requests").json()
    assert [e["status"] for e in journal["requests"]] == [404]  # only the poll made after the reset


def test_the_journal_records_what_clients_sent_without_secrets(client: SpecCheckedClient) -> None:
    image = data_uri(make_image("PNG", 400, 400))
    task_id = create_ok(client, {**VALID_BODY, "image": image, "seed": 3}, **{"X-Mock-Scenario": "succeed"})
    poll(client, task_id)
    client.get("/__mock/tasks")  # admin calls are not journalled
    entries = client.get("/__mock/requests").json()["requests"]
    assert [(e["method"], e["status"], e["task_id"]) for e in entries] == [
        ("POST", 202, task_id),
        ("GET", 200, task_id),
    ]
    created = entries[0]
    assert created["body"]["seed"] == 3 and created["body"]["prompt"] == VALID_BODY["prompt"]
    assert created["body"]["image"].startswith("data:image/png;base64,")
    assert created["body"]["image"].endswith(f"({len(image)} characters)")
    assert created["headers"]["authorization"] == "Bearer <redacted>"
    assert created["notes"]["scenario"] == "succeed"
    assert created["traceparent"].startswith("00-")
    assert "sk-mr-test-key" not in json.dumps(entries)


def test_the_journal_is_bounded(make_client: ClientFactory) -> None:
    client = make_client(Settings(journal_size=5))
    for _ in range(8):
        create(client)
    journal = client.get("/__mock/requests").json()
    assert len(journal["requests"]) == 5 and journal["total"] == 8 and journal["dropped"] == 3
    assert len(client.get("/__mock/requests?limit=2").json()["requests"]) == 2
    assert client.get("/__mock/requests?limit=abc").status_code == 400
    assert client.delete("/__mock/requests").json()["total"] == 0


@given(st.lists(st.tuples(st.binary(max_size=6), st.binary(max_size=6)), max_size=5))
def test_the_journal_keeps_any_headers_as_they_came(headers: list[tuple[bytes, bytes]]) -> None:
    """Packed into one bytes object when no name or value holds a newline; kept as they are otherwise."""
    packed = pack_headers(headers)
    assert unpack_headers(packed) == headers
    assert len(unpack_headers(pack_headers(headers * 20))) == min(len(headers) * 20, MAX_HEADERS)
    assert isinstance(packed, bytes) == (bool(headers) and not any(b"\n" in k + v for k, v in headers))


def test_journal_entries_stay_small_whatever_the_client_sends(client: SpecCheckedClient) -> None:
    nested: object = "deep"
    for _ in range(50):
        nested = [nested]
    create(client, {**VALID_BODY, "extra": {str(i): "x" * 10_000 for i in range(200)}, "nested": nested})
    entry = client.get("/__mock/requests").json()["requests"][0]
    assert len(json.dumps(entry)) < 20_000


def test_tasks_show_their_timeline(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client, None, **{"X-Mock-Scenario": "fail=3004; stage=queued"})
    listed = client.get("/__mock/tasks").json()
    assert listed["stored"] == 1
    task = client.get(f"/__mock/tasks/{task_id}").json()
    assert task == listed["tasks"][0]
    assert task["phase"] == "queued" and task["failure"] == {
        "code": 3004,
        "stage": "queued",
        "title": "Task Execution Error",
    }
    assert 2 <= task["queue_seconds"] <= 15
    assert client.get("/__mock/tasks/nope").status_code == 404


def test_the_served_spec_is_the_spec_with_this_mock_as_its_server(client: SpecCheckedClient, spec: ApiSpec) -> None:
    served = client.get("/__mock/openapi.json").json()
    assert served == spec.localized("http://testserver")  # where the client reached it
    assert yaml.safe_load(client.get("/__mock/openapi.yaml").text) == served
    assert served["servers"] == [{"url": "http://testserver", "description": "this mock"}]
    assert served["paths"] == spec.document["paths"]
    elsewhere = client.get("/__mock/openapi.json", headers={"Host": "mock.internal:9000"}).json()
    assert elsewhere["servers"] == [{"url": "http://mock.internal:9000", "description": "this mock"}]


def test_the_served_spec_names_the_public_url_when_there_is_one(make_client: ClientFactory) -> None:
    client = make_client(Settings(public_url="https://mock.example.com/base"))
    served = client.get("/__mock/openapi.json").json()
    assert served["servers"] == [{"url": "https://mock.example.com/base", "description": "this mock"}]
