"""Outcomes queued through ``/__mock/scenarios`` for the next creates, without the client sending a header."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver import Settings
from mockserver.outcome_queue import MAX_QUEUED
from tests.helpers import VALID_BODY, ClientFactory, SpecCheckedClient, create, create_ok, poll

SCENARIOS = "/__mock/scenarios"


def queue(client: SpecCheckedClient, *outcomes: str) -> dict[str, list[str]]:
    answer = client.post(SCENARIOS, json={"operation": "create", "outcomes": list(outcomes)})
    assert answer.status_code == 200, answer.text
    queued: dict[str, list[str]] = answer.json()["queued"]
    return queued


def test_the_next_creates_take_the_queued_outcomes_in_order(client: SpecCheckedClient) -> None:
    assert queue(client, "status=500", "fail=3001", "status=429; retry-after=2") == {
        "create": ["status=500", "fail=3001", "status=429; retry-after=2"],
        "poll": [],
    }
    assert create(client).status_code == 500
    failing = create_ok(client)
    limited = create(client)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert client.get(SCENARIOS).json() == {"queued": {"create": [], "poll": []}}
    succeeding = create_ok(client)  # the queue is used up: the default again
    client.post("/__mock/clock/advance", json={"seconds": 3600})
    assert poll(client, failing)["task_info"]["error"]["code"] == 3001
    assert poll(client, succeeding)["task_info"]["status"] == "succeeded"
    notes = [entry["notes"].get("scenario") for entry in client.get("/__mock/requests").json()["requests"][:4]]
    assert notes == ["queued: status=500", "queued: fail=3001", "queued: status=429; retry-after=2", None]


def test_a_create_with_the_header_or_a_refused_body_leaves_the_queue_alone(client: SpecCheckedClient) -> None:
    queue(client, "status=500")
    assert create(client, **{"X-Mock-Scenario": "succeed"}).status_code == 202
    assert create(client, {**VALID_BODY, "duration": 7}).status_code == 400
    assert client.get(SCENARIOS).json() == {"queued": {"create": ["status=500"], "poll": []}}
    assert create(client).status_code == 500


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"operation": "create", "outcomes": ["succeed", "fail=9"]}, "outcomes[1]: cannot use 'fail=9'"),
        ({"operation": "create", "outcomes": ["succeed", 5]}, "outcomes[1] is not a text"),
        ({"operation": "create", "outcomes": []}, "outcomes must be a non-empty list"),
        ({"operation": "poll", "outcomes": ["succeed"]}, "outcomes[0]: cannot use 'succeed': unknown item"),
        ({"operation": "poll", "outcomes": ["ok", "status=402"]}, "status must be one of 429, 500, 502, 503, 504"),
        ({"operation": "check", "outcomes": ["ok"]}, "operation must be one of create, poll"),
        ({"operation": "create", "outcomes": ["drop"], "api_key": 7}, "api_key must be the API key"),
        (["succeed"], 'Send {"operation": "create"'),
    ],
)
def test_a_bad_queue_is_refused_whole(client: SpecCheckedClient, payload: object, says: str) -> None:
    answer = client.post(SCENARIOS, json=payload)
    assert answer.status_code == 400
    assert says in answer.json()["detail"]
    assert client.get(SCENARIOS).json() == {"queued": {"create": [], "poll": []}}


def test_the_queue_is_bounded_and_emptied_by_delete_and_reset(client: SpecCheckedClient) -> None:
    queue(client, *["succeed"] * (MAX_QUEUED - 1))
    refused = client.post(SCENARIOS, json={"operation": "create", "outcomes": ["stall", "stall"]})
    assert refused.status_code == 400
    assert f"at most {MAX_QUEUED} outcomes may wait" in refused.json()["detail"]
    assert len(queue(client, "stall")["create"]) == MAX_QUEUED
    assert client.delete(SCENARIOS).json() == {"queued": {"create": [], "poll": []}}
    queue(client, "status=500")
    client.post("/__mock/reset")
    assert client.get(SCENARIOS).json() == {"queued": {"create": [], "poll": []}}


def test_workers_on_one_state_file_share_the_queue(make_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(state_file=tmp_path / "state.sqlite")
    one, other = make_client(settings), make_client(settings)
    queue(one, "status=500", "status=402")
    assert create(other).status_code == 500
    assert other.get(SCENARIOS).json() == {"queued": {"create": ["status=402"], "poll": []}}
    assert create(one).status_code == 402
    assert create(other).status_code == 202
    refused = one.post(SCENARIOS, json={"operation": "create", "outcomes": ["succeed"] * (MAX_QUEUED + 1)})
    assert refused.status_code == 400
    assert one.get(SCENARIOS).json() == {"queued": {"create": [], "poll": []}}
