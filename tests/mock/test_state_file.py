"""Shared, durable state: several workers see one set of tasks, and a killed mock loses none it accepted."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from mockserver.launcher import SPARK_MOCK, free_port, launch
from mockserver.state_file import StateFile, StateStore
from mockserver.tasks import plan_task
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, poll_path


def two_workers(path: Path, speed: float = 1.0) -> tuple[TestClient, TestClient]:
    """Two apps on one state file: what two worker processes are."""
    return TestClient(create_app(Settings(state_file=path, speed=speed))), TestClient(
        create_app(Settings(state_file=path, speed=speed))
    )


def test_a_task_created_through_one_worker_is_polled_through_another(tmp_path: Path) -> None:
    first, second = two_workers(tmp_path / "state.sqlite")
    task_id = first.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
    assert second.get(poll_path(task_id), headers=AUTH).json()["task_info"]["id"] == task_id
    assert second.get("/__mock/health").json()["tasks"] == 1


def test_the_clock_the_journal_and_reset_are_shared(tmp_path: Path) -> None:
    first, second = two_workers(tmp_path / "state.sqlite")
    task_id = first.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
    second.get(poll_path(task_id), headers=AUTH)
    paths = [e["path"] for e in first.get("/__mock/requests").json()["requests"]]
    assert paths == [CREATE_PATH, poll_path(task_id)]
    assert first.get("/__mock/requests").json()["total"] == 2
    first.post("/__mock/clock/advance", json={"seconds": 600})
    assert second.get("/__mock/clock").json()["offset_seconds"] == 600
    assert second.get(poll_path(task_id), headers=AUTH).json()["task_info"]["status"] == "succeeded"
    second.post("/__mock/reset")
    assert first.get(poll_path(task_id), headers=AUTH).status_code == 404
    assert first.get("/__mock/clock").json()["offset_seconds"] == 0
    assert first.get("/__mock/requests").json()["total"] == 1  # the 404 just made


def test_a_finished_task_stays_finished_whichever_worker_answers(tmp_path: Path) -> None:
    """Workers' clocks differ by a little; a task one worker reported finished is finished for all."""
    path = tmp_path / "state.sqlite"
    ahead, behind = ManualClock(start=2_000_000_000.0), ManualClock(start=2_000_000_000.0)
    fast = TestClient(create_app(Settings(state_file=path), clock=ahead))
    slow = TestClient(create_app(Settings(state_file=path), clock=behind))
    task_id = fast.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
    ahead.advance(10_000)
    assert fast.get(poll_path(task_id), headers=AUTH).json()["task_info"]["status"] == "succeeded"
    answer = slow.get(poll_path(task_id), headers=AUTH).json()
    assert answer["task_info"]["status"] == "succeeded" and "videos" in answer


def test_the_state_file_keeps_failures_and_stalls(tmp_path: Path) -> None:
    first, second = two_workers(tmp_path / "state.sqlite", speed=1000)
    failed = first.post(CREATE_PATH, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "fail=4008; stage=queued"})
    stalled = first.post(CREATE_PATH, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "stall"})
    second.post("/__mock/clock/advance", json={"seconds": 3600})
    answer = second.get(poll_path(failed.json()["task_info"]["id"]), headers=AUTH).json()
    assert answer["task_info"]["status"] == "failed" and answer["task_info"]["error"]["code"] == 4008
    stall = second.get(poll_path(stalled.json()["task_info"]["id"]), headers=AUTH).json()
    assert stall["task_info"]["status"] == "running"


def test_the_store_in_the_file_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mockserver.state_file.PRUNE_EVERY", 20)
    store = StateStore(StateFile(tmp_path / "state.sqlite"), capacity=50)
    for number in range(300):
        store.add(
            plan_task(
                f"00000000-0000-4000-8000-{number:012d}",
                created_at=0.0,
                video_seconds=5,
                prompt_extend=False,
                speed=1.0,
            )
        )
    assert 50 <= len(store) <= 50 + 20
    assert store.get("00000000-0000-4000-8000-000000000299") is not None
    assert store.get("00000000-0000-4000-8000-000000000000") is None  # the oldest went first


def _options(state: Path) -> tuple[str, ...]:
    return ("--state-file", str(state), "--log-level", "warning")


@pytest.mark.socket
def test_a_mock_killed_with_sigkill_loses_no_accepted_task(tmp_path: Path) -> None:
    options, port = _options(tmp_path / "state.sqlite"), free_port()
    accepted = []
    with launch(*options, program=SPARK_MOCK, port=port) as mock:
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            for _ in range(60):
                answer = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH)
                assert answer.status_code == 202
                accepted.append(answer.json()["task_info"]["id"])
        os.killpg(mock.process.pid, signal.SIGKILL)  # no shutdown, no flush: the process is simply gone
        mock.process.wait(timeout=10)
    with launch(*options, program=SPARK_MOCK, port=port) as mock, httpx.Client(base_url=mock.url, timeout=10) as client:
        for task_id in accepted:
            answer = client.get(poll_path(task_id), headers=AUTH)
            assert answer.status_code == 200 and answer.json()["task_info"]["id"] == task_id


@pytest.mark.socket
def test_several_workers_share_one_state(tmp_path: Path) -> None:
    with launch(*_options(tmp_path / "state.sqlite"), "--workers", "2", program=SPARK_MOCK) as mock:
        workers, created = set(), []
        for _ in range(40):  # a new connection each time, so that the kernel spreads them over the workers
            with httpx.Client(base_url=mock.url, timeout=10) as client:
                workers.add(client.get("/__mock/health").json()["worker"])
                created.append(client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"])
        assert len(workers) == 2, "both workers answered"
        for task_id in created:
            with httpx.Client(base_url=mock.url, timeout=10) as client:
                assert client.get(poll_path(task_id), headers=AUTH).status_code == 200
