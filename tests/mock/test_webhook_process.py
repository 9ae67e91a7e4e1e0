"""The webhook process: the server hands it tasks and never waits for it; it catches up, is bounded, and
starts again if it dies. And the wire between them, which every create with webhooks on crosses."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import Settings, WebhookReceiver, create_app
from mockserver.clock import FollowedClock
from mockserver.launcher import free_port
from mockserver.presenter import Presenter
from mockserver.tasks import Failure, Phase, Task
from mockserver.webhook_delivery import QUEUED_DELIVERIES, DeliveryRules
from mockserver.webhook_events import event_count, events_of
from mockserver.webhook_ledger import WebhookLedger
from mockserver.webhook_link import BACKLOG, RESTART_AFTER, Link
from mockserver.webhook_process import PENDING_EVENTS, ProcessConfig
from mockserver.webhook_wire import CLOCK, TASKS, FrameReader, WireError, frame, task_from_record, task_record
from mockserver.webhooks import WebhookService
from sparkspec.resources import video_path as fixed_video
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, serve

SECRET = "whsec_" + "7a3c" * 8
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def served(url: str) -> Iterator[tuple[httpx.Client, WebhookService]]:
    """The mock on a socket, with its lifespan, sending its webhooks to ``url``: a client, and its webhooks."""
    app = create_app(Settings(webhook_urls=(url,), webhook_secret=SECRET, webhook_backoff=0.01))
    with serve(app, free_port(), lifespan="on") as base, httpx.Client(base_url=base, headers=AUTH) as client:
        yield client, app.state.webhooks


def create(client: httpx.Client) -> str:
    answer = client.post(CREATE_PATH, json=VALID_BODY)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["task_info"]["id"])


def process_of(webhooks: WebhookService) -> int:
    deadline = time.monotonic() + 10
    while (pid := webhooks._link.pid) is None:
        assert time.monotonic() < deadline, "the webhook process did not start"
        time.sleep(0.01)
    return pid


@pytest.mark.socket
def test_the_server_never_waits_for_a_stopped_webhook_process_which_then_catches_up() -> None:
    with WebhookReceiver(SECRET) as receiver, served(receiver.url) as (client, webhooks):
        pid = process_of(webhooks)
        os.kill(pid, signal.SIGSTOP)  # takes no message, sends nothing
        try:
            started = time.monotonic()
            ids = [create(client) for _ in range(60)]
            assert time.monotonic() - started < 10  # answered at the server's pace, not the process's
            time.sleep(0.3)
            assert receiver.deliveries() == []
        finally:
            os.kill(pid, signal.SIGCONT)
        for task_id in ids:
            assert receiver.wait_for("task.created", task_id).verified
        assert webhooks._link.pid == pid  # the same process: nothing was lost


@pytest.mark.socket
def test_a_webhook_process_that_dies_starts_again_a_second_later(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver(SECRET) as receiver, served(receiver.url) as (client, webhooks):
        first = create(client)
        receiver.wait_for("task.created", first)
        pid = process_of(webhooks)
        with caplog.at_level(logging.WARNING, logger="mockserver"):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while webhooks._link.pid == pid:  # the server sees its end of the socket close
                assert time.monotonic() < deadline
                time.sleep(0.01)
            lost = create(client)  # at once: not started again yet (one that dies at once would loop)
            time.sleep(RESTART_AFTER + 0.2)
            second = create(client)
            assert receiver.wait_for("task.created", second).verified
        assert process_of(webhooks) != pid
        assert "the webhook process ended; the events it had pending are lost" in caplog.text
        assert receiver.deliveries("task.created", lost) == []
        assert client.get("/__mock/webhooks").json()["events_dropped"] == 2  # the lost task's two, counted


@pytest.mark.socket
def test_when_more_events_fall_due_than_deliveries_can_wait_none_is_dropped() -> None:
    with WebhookReceiver(SECRET) as receiver, served(receiver.url) as (client, _):
        ids = {create(client) for _ in range(QUEUED_DELIVERIES + 200)}
        client.post("/__mock/clock/advance", json={"seconds": 3600})  # every task.succeeded due at once
        deadline = time.monotonic() + 60
        while len(receiver.deliveries("task.succeeded")) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {d.task_id for d in receiver.deliveries("task.succeeded")} == ids
        log = client.get("/__mock/webhooks?limit=0").json()
        assert (log["events_dropped"], log["deliveries_dropped"]) == (0, 0)


def test_an_app_served_without_its_lifespan_still_sends_its_webhooks() -> None:
    with WebhookReceiver(SECRET) as receiver:
        app = create_app(Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET))
        client = TestClient(app)  # no `with`: each request on an event loop of its own, closed after it
        ids = []
        for _ in range(3):
            answer = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH)
            assert answer.status_code == 202
            ids.append(answer.json()["task_info"]["id"])
        for task_id in ids:
            assert receiver.wait_for("task.created", task_id).verified
        app.state.webhooks.stop()


def process_config(pending_events: int = PENDING_EVENTS, retries: int = 0) -> ProcessConfig:
    return ProcessConfig(
        DeliveryRules(retries, 0.01, 5.0, "hex", "whole"),
        Presenter({p.value: p.value for p in Phase}, "task_info", "seconds"),
        "seconds",
        ("mulerouter", "wan2.6-i2v-spark"),
        pending_events=pending_events,
    )


def room_for_20_tasks(receiver: WebhookReceiver) -> WebhookService:
    """A webhook service sending to ``receiver``, whose process has room for 20 tasks' events (two each:
    task.created, then its end), with the mock's endpoints and clock."""
    mock = create_app(Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET)).state.webhooks
    return WebhookService(
        endpoints=mock.endpoints,
        process=process_config(40, retries=3),
        clock=mock.clock,
        ledger=WebhookLedger(100),
        origin=lambda _: "http://mock.test",
    )


def test_what_the_server_sends_is_bounded_and_sending_never_blocks() -> None:
    config = process_config()
    reports: list[tuple[Any, ...]] = []

    async def flood() -> tuple[int, int, float, bool]:
        link = Link(config, reports.append, lambda: None)
        big = (TASKS, [(task_record(Task(f"{n}" + "t" * 1000, 1.0, 1.0, 1.0)), "http://a") for n in range(60)])
        assert link.send((CLOCK, 0.0, False))
        assert link.pid is not None
        os.kill(link.pid, signal.SIGSTOP)
        try:
            started, sent, refused = time.monotonic(), 0, 0
            for _ in range(200):  # 12 MB and more: far past what the socket and the backlog hold
                if link.send(big):
                    sent += 1
                else:
                    refused += 1
            took = time.monotonic() - started
            told = link.send((CLOCK, 1.0, False), bounded=False)  # how things stand: past the bound
        finally:
            os.kill(link.pid, signal.SIGCONT)
            link.close()
        return sent, refused, took, told

    sent, refused, took, told = asyncio.run(flood())
    size = 60 * 1000  # a message, at least
    assert refused > 0 and sent * size < BACKLOG + 8 * 2**20  # the backlog, and what the socket holds
    assert took < 2  # each send returned at once: no wait for the stopped process
    assert told


def test_messages_cross_in_pieces_of_any_size() -> None:
    failing = Task("t-2", 10.5, 3.0, math.inf, Failure(3001, "Bad", "It said «no»", Phase.QUEUED), 10, None)
    plain = Task("t-1", 1.0, 2.0, 60.0, None, 5, "key")
    records = [(task_record(plain), "http://a"), (task_record(failing), "http://b")]
    messages: list[tuple[Any, ...]] = [(TASKS, records), (CLOCK, 1e9, True)]
    stream = b"".join(frame(m) for m in messages)
    for size in (1, 3, 7, len(stream)):
        reader, got = FrameReader(), []
        for start in range(0, len(stream), size):
            got += reader.feed(stream[start : start + size])
        assert got == messages
    assert [task_from_record(record) for record, _ in records] == [plain, failing]


@pytest.mark.parametrize(
    "stream",
    [
        b"\x7f\xff\xff\xff",  # a frame longer than any message
        frame((TASKS,))[:4] + b"\x00" * (len(frame((TASKS,))) - 4),  # not marshal
        len(b"N").to_bytes(4, "big") + b"N",  # marshal, but None: not a message
    ],
)
def test_a_broken_stream_is_refused(stream: bytes) -> None:
    with pytest.raises(WireError):
        FrameReader().feed(stream)


def test_a_followed_clock_runs_only_when_the_original_does() -> None:
    clock = FollowedClock()
    clock.follow(1000.0, runs=False)
    time.sleep(0.02)
    assert clock.now() == 1000.0
    clock.follow(2000.0, runs=True)
    time.sleep(0.02)
    assert 2000.015 < clock.now() < 2001


def test_the_socket_between_them_is_a_pair_of_local_sockets() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert ours.family == socket.AF_UNIX  # nothing listens on a port


@pytest.mark.socket
def test_a_script_that_serves_the_app_at_its_top_level_gets_its_webhooks_and_videos(tmp_path: Path) -> None:
    """No ``if __name__ == "__main__":`` in it: neither the webhook process nor the render process may run
    the script again (as multiprocessing's spawn would, starting a second server in it)."""
    port = free_port()
    with WebhookReceiver(SECRET) as receiver:
        script = tmp_path / "serve_mock.py"
        script.write_text(
            "import uvicorn\n"
            "from mockserver import Settings, create_app\n"
            f"app = create_app(Settings(webhook_urls=({receiver.url!r},), webhook_secret={SECRET!r}))\n"
            f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')\n"
        )
        server = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},  # this checkout's mock, whatever is installed
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        task_id = create(client)
                        break
                    except httpx.TransportError:
                        assert server.poll() is None and time.monotonic() < deadline, (
                            "the script's server did not start"
                        )
                        time.sleep(0.1)
                assert receiver.wait_for("task.created", task_id).verified
                assert client.post("/__mock/clock/advance", json={"seconds": 3600}).status_code == 200
                link = receiver.wait_for("task.succeeded", task_id).json()["data"]["payload"]["videos"][0]
                while (video := client.get(link)).status_code == 503:  # still being rendered
                    assert time.monotonic() < deadline + 60
                    time.sleep(0.2)
                assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
                assert video.content != fixed_video().read_bytes()  # rendered: not the fallback of a failed one
        finally:
            server.terminate()
            output = server.communicate(timeout=20)[0].decode()
        assert "Traceback" not in output and "address already in use" not in output, output


def test_a_slow_start_under_load_does_not_send_the_clock_again_and_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in a benchmark, with other servers on the core: the clock's reading took over a millisecond to
    send, so the first heartbeat found the process's clock behind, and sent it again (and again: the
    mock did not start, with a RecursionError)."""
    real_send = Link.send

    def slow_send(self: Link, *args: Any, **kwargs: Any) -> bool:
        time.sleep(0.003)  # a core shared with busy neighbours
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(Link, "send", slow_send)
    with WebhookReceiver(SECRET) as receiver:
        app = create_app(Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET))
        with TestClient(app) as client:
            answer = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH)
            assert answer.status_code == 202
            assert receiver.wait_for("task.created", answer.json()["task_info"]["id"]).verified


@pytest.mark.socket
def test_the_server_sends_no_more_tasks_than_the_process_has_room_for() -> None:
    """The rest are dropped in the server, before they cost an encoding, and counted: under a load that
    takes the whole CPU, the process gets little of it and its schedule is full."""
    with WebhookReceiver(SECRET) as receiver:
        webhooks = room_for_20_tasks(receiver)

        async def run() -> tuple[list[str], int, str]:
            async with webhooks.lifespan(None):
                pid = await asyncio.to_thread(process_of, webhooks)
                os.kill(pid, signal.SIGSTOP)  # no report comes: the server goes by what it knows
                try:
                    tasks = [Task(f"task-{n}", webhooks.clock.now(), 5.0, 60.0) for n in range(30)]
                    for task in tasks:
                        webhooks.task_created(task, "http://mock.test")
                    await asyncio.sleep(0.2)  # the batch goes
                    dropped = webhooks.status()["events_dropped"]
                finally:
                    os.kill(pid, signal.SIGCONT)
                for task in tasks[:20]:
                    await asyncio.to_thread(receiver.wait_for, "task.created", task.id)
                # Their task.created sent, the process has room again, and says so: the next task goes.
                await asyncio.sleep(0.6)
                later = Task("task-later", webhooks.clock.now(), 5.0, 60.0)
                webhooks.task_created(later, "http://mock.test")
                await asyncio.to_thread(receiver.wait_for, "task.created", later.id)
                return [t.id for t in tasks[20:]], dropped, later.id

        refused, dropped, _ = asyncio.run(run())
        assert dropped == 20  # ten tasks, two events each, counted by the server while the process slept
        assert all(receiver.deliveries("task.created", task_id) == [] for task_id in refused)


def test_events_are_counted_without_making_them() -> None:
    failure_in_queue = Failure(3001, "Bad", "no", Phase.QUEUED)
    failure_running = Failure(3002, "Bad", "no", Phase.RUNNING)
    tasks = [
        Task("plain", 1.0, 2.0, 60.0),
        Task("stalled", 1.0, 2.0, math.inf),
        Task("stalled in the queue, then failed", 1.0, 2.0, math.inf, failure_in_queue),
        Task("failed running", 1.0, 2.0, 3.0, failure_running),
    ]
    assert [event_count(t) for t in tasks] == [2, 1, 2, 2]
    assert events_of([(t, "u") for t in tasks]) == 7


def test_tasks_left_in_a_batch_by_a_loop_that_closed_go_with_the_next_create() -> None:
    """An app driven from one event loop after another (each test's asyncio.run, say), without its
    lifespan: a batch's timer on a loop that closes never fires."""
    with WebhookReceiver(SECRET) as receiver:
        app = create_app(Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET))

        async def creates(count: int) -> list[str]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mock", headers=AUTH) as client:
                answers = [await client.post(CREATE_PATH, json=VALID_BODY) for _ in range(count)]
            return [answer.json()["task_info"]["id"] for answer in answers]

        first = asyncio.run(creates(3))  # the first goes at once; the other two wait for a timer, then the loop closes
        later = asyncio.run(creates(1))
        for task_id in first + later:
            assert receiver.wait_for("task.created", task_id).verified
        app.state.webhooks.stop()


def test_what_the_process_has_room_for_is_read_again_on_a_new_loop() -> None:
    """Its reports were read on a loop that has closed: the next loop reads those waiting before it cuts
    a batch to the room it knew (none), and a process that has room again is sent tasks again."""
    with WebhookReceiver(SECRET) as receiver:
        webhooks = room_for_20_tasks(receiver)
        tasks = [Task(f"task-{n}", webhooks.clock.now(), 5.0, 60.0) for n in range(20)]

        async def fill() -> None:
            for task in tasks:
                webhooks.task_created(task, None)
            await asyncio.sleep(0.05)  # the batch goes; the loop closes before the process reports

        asyncio.run(fill())
        for task in tasks:  # their task.created sent: the process has room for 10 again, and has said so
            receiver.wait_for("task.created", task.id)
        time.sleep(0.5)  # time for the process to report its room (it does within a quarter of a second)
        later = Task("task-later", webhooks.clock.now(), 5.0, 60.0)

        async def create_later() -> None:
            webhooks.task_created(later, None)

        asyncio.run(create_later())
        assert receiver.wait_for("task.created", later.id).verified
        assert webhooks.status()["events_dropped"] == 0
        webhooks.stop()


def test_a_process_told_how_things_stand_again_keeps_its_count_of_room() -> None:
    """Only a process just started has its whole schedule free: one told again how things stand (the clock
    moved from a thread while no loop served the app) still holds what it held."""
    with WebhookReceiver(SECRET) as receiver:
        webhooks = room_for_20_tasks(receiver)

        async def create(tasks: list[Task]) -> None:
            for task in tasks:
                webhooks.task_created(task, None)
            await asyncio.sleep(0.1)

        asyncio.run(create([Task(f"first-{n}", webhooks.clock.now(), 5.0, 60.0) for n in range(20)]))
        time.sleep(0.5)  # their task.created sent: room for 10, reported
        webhooks.wake()  # from this thread, no loop running: the process hears it all again with the next message
        pid = process_of(webhooks)
        os.kill(pid, signal.SIGSTOP)
        try:
            asyncio.run(create([Task(f"second-{n}", webhooks.clock.now(), 5.0, 60.0) for n in range(30)]))
            dropped = webhooks.status()["events_dropped"]
        finally:
            os.kill(pid, signal.SIGCONT)
        assert dropped == 40  # room for 10 of the 30, not for 20 as a process just started would have
        webhooks.stop()


def test_a_clock_moved_by_the_test_reaches_a_process_on_the_next_loop() -> None:
    """A TestClient without `with` (a loop per request) and a ManualClock the test moves itself: the
    next request's loop tells the process at once, not a second later on a loop that has closed."""
    from mockserver import ManualClock

    with WebhookReceiver(SECRET) as receiver:
        clock = ManualClock()
        app = create_app(Settings(webhook_urls=(receiver.url,), webhook_secret=SECRET), clock=clock)
        client = TestClient(app)
        first = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
        receiver.wait_for("task.created", first)
        clock.advance(3600)
        second = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
        assert receiver.wait_for("task.succeeded", first).verified
        assert receiver.wait_for("task.created", second).verified
        app.state.webhooks.stop()
