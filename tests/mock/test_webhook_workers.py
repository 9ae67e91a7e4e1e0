"""Several workers on one state file: an endpoint added through one reaches them all, every worker's
attempts are in one log, and a reset through one is a reset for all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings, WebhookReceiver, create_app
from mockserver.launcher import free_port
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, poll_path, serve, webhook_log

pytestmark = pytest.mark.socket
SECRET = "whsec_" + "c0de" * 8


@contextmanager
def two_workers(path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two mocks on one state file, each on its own socket with its lifespan (as ``--workers 2`` runs them)."""
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(Settings(state_file=path, webhook_backoff=0.01))
            base = stack.enter_context(serve(app, free_port(), lifespan="on"))
            clients.append(stack.enter_context(httpx.Client(base_url=base, headers=AUTH)))
        yield clients[0], clients[1]


def create(client: httpx.Client) -> str:
    answer = client.post(CREATE_PATH, json=VALID_BODY)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["task_info"]["id"])


def test_an_endpoint_added_through_one_worker_gets_the_events_of_another(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET) as receiver, two_workers(tmp_path / "state.sqlite") as (first, second):
        added = first.post("/__mock/webhooks/endpoints", json={"url": receiver.url, "secret": SECRET})
        assert added.status_code == 201
        # The other worker looks once a second: its own count of endpoints (which no admin call of ours syncs).
        assert webhook_log(second, lambda log: log["endpoints"] == 1)["endpoints"] == 1
        task_id = create(second)  # no admin call to the second worker: it learnt of the endpoint by itself
        assert receiver.wait_for("task.created", task_id).verified
        assert second.get("/__mock/webhooks/endpoints").json()["endpoints"] == [added.json()["endpoint"]]
        # One log for both: the first worker shows the second one's attempt.
        log = webhook_log(first, lambda log: log["attempts"])
        assert [(a["type"], a["task_id"], a["status"]) for a in log["attempts"]] == [("task.created", task_id, 200)]
        assert log["attempts_total"] == 1 and log["pending_events"] >= 1  # task.succeeded, minutes away
        # The secret is kept there (the other worker signs with it): the file is its owner's alone.
        files = [tmp_path / name for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm")]
        assert all(path.stat().st_mode & 0o077 == 0 for path in files)


def test_a_reset_through_one_worker_forgets_what_another_had_pending(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET) as receiver, two_workers(tmp_path / "state.sqlite") as (first, second):
        assert second.post("/__mock/webhooks/endpoints", json={"url": receiver.url, "secret": SECRET}).is_success
        task_id = create(second)
        receiver.wait_for("task.created", task_id)
        assert first.post("/__mock/reset").status_code == 200
        assert first.get("/__mock/webhooks/endpoints").json()["endpoints"] == []  # none was configured
        assert webhook_log(second, lambda log: log["endpoints"] == 0)["endpoints"] == 0  # it has seen the reset
        assert second.get("/__mock/webhooks/endpoints").json()["endpoints"] == []
        assert second.post("/__mock/webhooks/endpoints", json={"url": receiver.url, "secret": SECRET}).is_success
        assert second.get(poll_path(task_id)).status_code == 404  # the reset forgot the task
        later = create(second)
        first.post("/__mock/clock/advance", json={"seconds": 3600})  # through the other worker
        assert receiver.wait_for("task.succeeded", later).verified  # the clock has moved for both workers
        assert receiver.deliveries("task.succeeded", task_id) == []  # what the reset forgot was never sent
        log = webhook_log(first, lambda log: len(log["attempts"]) >= 2)
        assert {a["task_id"] for a in log["attempts"]} == {later}  # the log before the reset is gone


def test_a_worker_that_learns_of_an_endpoint_as_it_starts_keeps_one_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first beat finds the endpoint another worker added since it was built, and starts its webhook
    process: that must not start a second beat beside the first (each would look at the state file)."""
    from mockserver.webhooks import WebhookService

    beats: list[WebhookService] = []
    real_beat = WebhookService._beat

    def counted(self: WebhookService, loop: Any) -> None:
        beats.append(self)
        real_beat(self, loop)

    monkeypatch.setattr(WebhookService, "_beat", counted)
    path = tmp_path / "state.sqlite"
    with WebhookReceiver(SECRET) as receiver:
        late = create_app(Settings(state_file=path, webhook_backoff=0.01))  # built before the endpoint exists
        with two_workers(path) as (first, _):
            assert first.post("/__mock/webhooks/endpoints", json={"url": receiver.url, "secret": SECRET}).is_success
            with serve(late, free_port(), lifespan="on") as base, httpx.Client(base_url=base, headers=AUTH) as client:
                started = time.monotonic()
                task_id = create(client)  # it knows of the endpoint
                assert receiver.wait_for("task.created", task_id).verified
                time.sleep(max(0.0, started + 3.5 - time.monotonic()))
                count = sum(service is late.state.webhooks for service in beats)
            # One at the start, then one a second: 4 or 5 in 3.5 s; two beats side by side would make 8 or more.
            assert 3 <= count <= 6, count
