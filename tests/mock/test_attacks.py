"""What an attack on the mock found, each sent over a real socket to `spark-mock` as a user runs it.

Each test fails against the code before its fix: ``ATTACK_TREE=<checkout of an older commit>`` runs the
same tests against that tree's mock (``python -m mockserver`` started there), to show it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mockserver.launcher import PYTHON_MODULE, MockProcess, free_port, launch
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, poll_path

pytestmark = pytest.mark.socket

TREE = os.environ.get("ATTACK_TREE")
READ_TIMEOUT = 2.0


def _launch(*options: str, env: dict[str, str] | None = None, port: int | None = None) -> Iterator[MockProcess]:
    where = {"cwd": Path(TREE), "env": {"PYTHONPATH": TREE, **(env or {})}} if TREE else {"env": env or {}}
    with launch(*options, "--log-level", "warning", program=PYTHON_MODULE, port=port, **where) as mock:
        yield mock


@pytest.fixture(scope="module")
def mock() -> Iterator[MockProcess]:
    yield from _launch(env={"MOCK_READ_TIMEOUT": str(READ_TIMEOUT)})


def _connect(mock: MockProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", mock.port), timeout=10)


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection or ``timeout`` passes."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    return received


def test_clients_that_never_finish_their_bodies_hold_up_no_upload(mock: MockProcess) -> None:
    stalled = []
    for _ in range(3):
        sock = _connect(mock)
        head = f"POST {CREATE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        sock.sendall((head + "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{").encode())
        stalled.append(sock)
    time.sleep(0.3)  # they have begun their bodies
    large = {**VALID_BODY, "padding": "x" * 400_000}  # over the size that is parsed off the event loop
    started = time.monotonic()
    answer = httpx.post(mock.url + CREATE_PATH, json=large, headers=AUTH, timeout=READ_TIMEOUT * 0.75)
    assert answer.status_code == 202 and time.monotonic() - started < READ_TIMEOUT * 0.75
    for sock in stalled:  # and the stalled ones are told so once the read timeout passes
        reply = _answer(sock, READ_TIMEOUT * 3)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error_code"] == 408
        sock.close()


def test_headers_that_stop_coming_get_408_and_the_connection_closes(mock: MockProcess) -> None:
    with _connect(mock) as sock:
        sock.sendall(f"GET {poll_path('x')} HTTP/1.1\r\nHost: x\r\nAuthori".encode())
        started = time.monotonic()
        reply = _answer(sock, READ_TIMEOUT * 4)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert READ_TIMEOUT * 0.9 <= time.monotonic() - started < READ_TIMEOUT * 4  # closed, not left open
    head, body = reply.split(b"\r\n\r\n", 1)
    assert b"traceparent:" in head.lower() and json.loads(body)["title"] == "Request Timeout"


def test_headers_past_the_bound_get_431_and_are_never_kept(mock: MockProcess) -> None:
    huge = {f"x-filler-{i}": "f" * 100_000 for i in range(10)}
    answer = httpx.get(mock.url + "/nowhere", headers=huge, timeout=10)
    assert answer.status_code == 431 and answer.json()["error_code"] == 431
    assert mock.alive()
    # Under the bound, a long header is kept cut to what the journal shows.
    httpx.get(mock.url + "/nowhere", headers={"x-long": "y" * 30_000}, timeout=10)
    entry = httpx.get(mock.url + "/__mock/requests?limit=1").json()["requests"][0]
    assert len(entry["headers"]["x-long"]) <= 200


def test_a_bearer_of_many_tokens_is_refused_and_the_journal_stays_fast(mock: MockProcess) -> None:
    tokens = ",".join(f"token-{i:04d}" for i in range(300))
    for _ in range(10):
        answer = httpx.post(
            mock.url + CREATE_PATH, json=VALID_BODY, headers={"Authorization": f"Bearer {tokens}"}, timeout=10
        )
        assert answer.status_code == 401, answer.text
    started = time.monotonic()
    assert httpx.get(mock.url + "/__mock/requests", timeout=30).status_code == 200
    assert time.monotonic() - started < 1.0


def test_a_body_nested_a_thousand_deep_is_a_400(mock: MockProcess) -> None:
    for depth in (990, 1000, 1010):
        raw = json.dumps(VALID_BODY)[:-1] + ', "seed": ' + "[" * depth + "]" * depth + "}"
        answer = httpx.post(
            mock.url + CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code == 400, (depth, answer.text[:200])


def test_a_number_past_a_double_never_breaks_the_journal(mock: MockProcess) -> None:
    raw = json.dumps(VALID_BODY)[:-1] + ', "note": 1e400}'
    answer = httpx.post(mock.url + CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 202
    journal = httpx.get(mock.url + "/__mock/requests?limit=5")
    assert journal.status_code == 200 and "Infinity" not in journal.text


def test_seeded_ids_never_repeat_across_workers_and_restarts(tmp_path: Path) -> None:
    options = ("--seed", "42", "--state-file", str(tmp_path / "state.sqlite"))
    port = free_port()
    created: dict[str, str] = {}
    for workers in ("2", "1"):  # two workers at once, then a restart on the same state file
        for started in _launch(*options, "--workers", workers, port=port):
            for _ in range(100 if workers == "2" else 5):
                with httpx.Client(base_url=started.url, timeout=10) as client:  # a new connection each time
                    info = client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]
                    assert info["id"] not in created, "a task id was handed out twice"
                    created[info["id"]] = info["created_at"]
            for task_id, created_at in list(created.items())[:20]:
                polled = httpx.get(started.url + poll_path(task_id), headers=AUTH).json()["task_info"]
                assert polled["created_at"] == created_at, "a stored task was replaced"
