"""Faults the clients really meet, over a real socket to `spark-mock`: answers that fail a few times
and then work, polls that fail, lost answers, closed connections, slow answers and slow bodies; and
the official Python client's paths through them (tests/skill_client.py restates how it behaves)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.errors import DropConnection
from mockserver.launcher import SPARK_MOCK, launch
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY
from tests.skill_client import SkillClient

pytestmark = pytest.mark.socket
KEY = "sk-mr-faults-test"
OTHER_KEY = "sk-mr-faults-other"
FAST = (0.05, 0.1, 0.2)  # the client's backoff, scaled: where a test needs the order of events, not the waits


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    with launch("--speed", "600", "--log-level", "warning", log=log, program=SPARK_MOCK) as mock:
        yield mock.url
    assert "Traceback" not in mock.output() and "ASGI callable" not in mock.output(), mock.output()[-3000:]


@pytest.fixture
def mock(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as admin:
        admin.post("/__mock/reset")
        yield admin


def queue(mock: httpx.Client, operation: str, *outcomes: str, api_key: str | None = None) -> None:
    answer = mock.post(
        "/__mock/scenarios", json={"operation": operation, "outcomes": list(outcomes), "api_key": api_key}
    )
    assert answer.status_code == 200, answer.text


def journal(mock: httpx.Client, method: str = "POST") -> list[dict[str, Any]]:
    return [e for e in mock.get("/__mock/requests").json()["requests"] if e["method"] == method]


def test_the_official_client_gets_through_two_503s(server: str, mock: httpx.Client) -> None:
    queue(mock, "create", "status=503", "status=503")
    started = time.monotonic()
    with SkillClient(server, KEY) as client:  # its own waits: 1 s, then 2 s
        outcome = client.create_and_poll(CREATE_PATH, VALID_BODY)
    assert outcome.status == "succeeded" and outcome.results, outcome
    assert time.monotonic() - started >= 3.0
    creates = journal(mock)
    assert [e["status"] for e in creates] == [503, 503, 202]
    assert [e["notes"].get("scenario") for e in creates] == ["queued: status=503", "queued: status=503", None]
    assert mock.get("/__mock/health").json()["tasks"] == 1


@pytest.mark.parametrize("lost", ["drop", "503"])
def test_a_lost_answer_and_a_retrying_client_make_two_tasks(server: str, mock: httpx.Client, lost: str) -> None:
    queue(mock, "create", f"succeed; lose-answer={lost}")
    with SkillClient(server, KEY, backoff=FAST) as client:
        outcome = client.create_and_poll(CREATE_PATH, VALID_BODY)
    assert outcome.status == "succeeded", outcome
    creates = journal(mock)
    assert [e["status"] for e in creates] == [0 if lost == "drop" else 503, 202]
    first, second = (e["task_id"] for e in creates)
    assert first and second and first != second and second == outcome.task_id
    assert creates[0]["notes"]["fault"] == f"answer lost ({lost}) after the task was made"
    tasks = {t["task_info"]["id"] for t in mock.get("/__mock/tasks").json()["tasks"]}
    assert tasks == {first, second}  # the client paid for a task it never heard of


def test_a_poll_that_keeps_failing_makes_the_official_client_report_failure(server: str, mock: httpx.Client) -> None:
    queue(mock, "poll", *["status=503"] * 4)  # the poll and its three retries
    with SkillClient(server, KEY, backoff=FAST) as client:
        outcome = client.create_and_poll(CREATE_PATH, VALID_BODY)
    assert outcome.status == "failed" and outcome.error == "poll: HTTP 503", outcome
    polls = journal(mock, "GET")
    assert [e["status"] for e in polls] == [503] * 4
    assert mock.get(f"/__mock/tasks/{outcome.task_id}").json()["phase"] in ("queued", "running", "succeeded")


def test_one_failed_poll_is_retried_through(server: str, mock: httpx.Client) -> None:
    queue(mock, "poll", "status=502", "drop")
    with SkillClient(server, KEY, backoff=FAST) as client:
        outcome = client.create_and_poll(CREATE_PATH, VALID_BODY)
    assert outcome.status == "succeeded", outcome
    assert [e["status"] for e in journal(mock, "GET")][:3] == [502, 0, 200]


def test_a_create_can_name_which_of_its_task_polls_fail(server: str, mock: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "X-Mock-Scenario": "poll-2=503; poll-4=429"}
    with httpx.Client(base_url=server, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as client:
        task_id = client.post(CREATE_PATH, json=VALID_BODY, headers=headers).json()["task_info"]["id"]
        other = client.post(CREATE_PATH, json=VALID_BODY).json()["task_info"]["id"]
        answers = [client.get(f"{CREATE_PATH}/{task_id}") for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 503, 200, 429, 200]
        assert answers[3].headers["retry-after"] == "5"
        assert answers[1].json()["error_code"] == 503 and "simulated by the mock" in answers[1].json()["detail"]
        assert client.get(f"{CREATE_PATH}/{other}").status_code == 200  # another task's polls are its own


def test_queued_outcomes_can_be_kept_for_one_key(server: str, mock: httpx.Client) -> None:
    queue(mock, "create", "status=429", api_key=OTHER_KEY)
    listed = mock.get("/__mock/scenarios").json()["queued"]
    assert OTHER_KEY not in str(listed) and any(lane.startswith("create@key:") for lane in listed)
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.post(CREATE_PATH, json=VALID_BODY, headers={"Authorization": f"Bearer {KEY}"}).status_code == 202
        other = {"Authorization": f"Bearer {OTHER_KEY}"}
        assert client.post(CREATE_PATH, json=VALID_BODY, headers=other).status_code == 429
        assert client.post(CREATE_PATH, json=VALID_BODY, headers=other).status_code == 202


def test_drop_closes_the_connection_with_no_answer_and_makes_no_task(server: str, mock: httpx.Client) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(CREATE_PATH, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "drop"})
        assert client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).status_code == 202  # a new connection
    entry = journal(mock)[0]
    assert entry["status"] == 0 and entry["task_id"] is None
    assert entry["notes"]["fault"] == "dropped: the connection was closed with no answer"
    assert mock.get("/__mock/health").json()["tasks"] == 1


def test_a_delay_holds_only_its_own_answer(server: str, mock: httpx.Client) -> None:
    delayed: list[httpx.Response] = []

    def send_delayed() -> None:
        with httpx.Client(base_url=server, timeout=10, headers=AUTH) as slow:
            delayed.append(slow.post(CREATE_PATH, json=VALID_BODY, headers={"X-Mock-Scenario": "delay=1.5"}))

    started = time.monotonic()
    thread = threading.Thread(target=send_delayed)
    thread.start()
    time.sleep(0.2)  # the delayed create is in flight by now (it takes milliseconds to send)
    with httpx.Client(base_url=server, timeout=10, headers=AUTH) as client:
        assert client.post(CREATE_PATH, json=VALID_BODY).status_code == 202
    assert not delayed  # answered while the delayed one still waits
    assert time.monotonic() - started < 1.2  # not held behind the delayed one
    thread.join()
    assert delayed[0].status_code == 202 and time.monotonic() - started >= 1.5
    faults = [e["notes"]["fault"] for e in journal(mock) if e["notes"].get("fault")]
    assert faults == ["delayed 1.500 s"]


def test_a_trickled_body_reaches_a_clients_read_timeout(server: str, mock: httpx.Client) -> None:
    headers = {**AUTH, "X-Mock-Scenario": "trickle=2"}
    with (
        httpx.Client(base_url=server, timeout=httpx.Timeout(10, read=0.3)) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post(CREATE_PATH, json=VALID_BODY, headers=headers)
    with httpx.Client(base_url=server, timeout=10) as patient:
        started = time.monotonic()
        answer = patient.post(CREATE_PATH, json=VALID_BODY, headers=headers)
        assert answer.status_code == 202 and answer.json()["task_info"]["id"]
        assert time.monotonic() - started >= 1.8


def test_random_delays_repeat_under_a_seed() -> None:
    def delays(seed: int) -> list[str]:
        with TestClient(create_app(Settings(seed=seed, latency="poll=0-0.02,create=0.01-0.03"))) as client:
            task_id = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
            for _ in range(3):
                client.get(f"{CREATE_PATH}/{task_id}", headers=AUTH)
            return [e["notes"]["fault"] for e in client.get("/__mock/requests").json()["requests"]]

    first = delays(7)
    assert len(first) == 4 and all(f.startswith("delayed 0.0") for f in first)
    assert delays(7) == first and delays(8) != first


def test_served_in_process_a_drop_reaches_the_client_as_an_exception() -> None:
    with TestClient(create_app(Settings())) as client:
        with pytest.raises(DropConnection):
            client.post(CREATE_PATH, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "drop"})
        assert client.get("/__mock/requests").json()["requests"][0]["status"] == 0
