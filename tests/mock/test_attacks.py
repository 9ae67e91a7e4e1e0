"""What an attack on the mock found, each sent over a real socket to `spark-mock` as a user runs it.

Each test fails against the code before its fix: ``ATTACK_TREE=<checkout of an older commit>`` runs the
same tests against that tree's mock (``python -m mockserver`` started there), to show it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
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


def test_clients_that_never_finish_their_bodies_hold_up_an_upload_for_the_read_timeout_at_most(
    mock: MockProcess,
) -> None:
    stalled = []
    for _ in range(3):
        sock = _connect(mock)
        head = f"POST {CREATE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        sock.sendall((head + "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{").encode())
        stalled.append(sock)
    # A round trip after they were sent: by its answer the mock has read them, and they hold both turns.
    assert mock.alive()
    large = {**VALID_BODY, "padding": "x" * 400_000}  # over the size that is parsed off the event loop
    started = time.monotonic()
    answer = httpx.post(mock.url + CREATE_PATH, json=large, headers=AUTH, timeout=READ_TIMEOUT * 3)
    assert answer.status_code == 202 and time.monotonic() - started < READ_TIMEOUT * 2.5
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


@pytest.mark.parametrize("content", [b"garbage, not a database" * 100, "directory"])
def test_a_state_file_that_is_not_one_stops_the_start_with_exit_2(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "state.sqlite"
    if content == "directory":
        path.mkdir()
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    done = _start_and_wait(path)
    assert done.returncode == 2, done.stderr[-500:]
    assert "MOCK_STATE_FILE" in done.stderr and "Traceback" not in done.stderr


def test_a_state_file_with_damaged_pages_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    for started in _launch("--state-file", str(path)):
        for _ in range(300):
            httpx.post(started.url + CREATE_PATH, json={**VALID_BODY, "pad": "p" * 500}, headers=AUTH)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        companion.unlink(missing_ok=True)  # what the log held is gone: the file alone must say
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // 4096, 2):  # every other page past the first, overwritten
        data[page * 4096 + 100 : page * 4096 + 1100] = b"\xa5" * 1000
    path.write_bytes(bytes(data))
    done = _start_and_wait(path)
    assert done.returncode == 2, done.stderr[-500:]
    assert "MOCK_STATE_FILE" in done.stderr


def test_ranges_that_cannot_be_served_are_ignored_not_answered_in_text(mock: MockProcess) -> None:
    task_id = httpx.post(mock.url + CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
    httpx.post(mock.url + "/__mock/clock/advance", json={"seconds": 3600})
    video = mock.url + f"/__mock/assets/{task_id}/result_00.mp4"
    whole = httpx.get(video).content
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 12_000, 2))  # 6,000 parts, under the header bound
    for header in ("bytes=-0", f"bytes={len(whole) + 10}-", many):
        started = time.monotonic()
        answer = httpx.get(video, headers={"Range": header}, timeout=30)
        assert answer.status_code == 200 and answer.content == whole, (header[:40], answer.status_code)
        assert time.monotonic() - started < 2.0
    assert httpx.get(video, headers={"Range": "bytes=0-9"}).status_code == 206


def test_a_request_without_host_or_with_an_encoding_it_cannot_read_is_refused(mock: MockProcess) -> None:
    body = json.dumps(VALID_BODY).encode()
    with _connect(mock) as sock:
        sock.sendall(
            f"POST {CREATE_PATH} HTTP/1.1\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        reply = _answer(sock, 5)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    for headers in (
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        {"Content-Type": "application/json; charset=utf-16"},
    ):
        answer = httpx.post(mock.url + CREATE_PATH, content=body, headers={**AUTH, **headers})
        assert answer.status_code == 415, (headers, answer.text)
    ok = httpx.post(
        mock.url + CREATE_PATH, content=body, headers={**AUTH, "Content-Type": "application/json; charset=UTF-8"}
    )
    assert ok.status_code == 202


def _start_and_wait(state_file: Path) -> subprocess.CompletedProcess[str]:
    """`spark-mock --state-file <state_file>`, run until it exits (a mock that starts is stopped after 20 s)."""
    command = [*PYTHON_MODULE, "--port", str(free_port()), "--state-file", str(state_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_")} | ({"PYTHONPATH": TREE} if TREE else {})
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20, cwd=TREE, env=env)
    except subprocess.TimeoutExpired as started:
        return subprocess.CompletedProcess(command, 0, "", str(started.stderr or ""))


def test_one_rule_for_task_ids_in_polls_videos_and_the_admin_api(mock: MockProcess) -> None:
    task_id = httpx.post(mock.url + CREATE_PATH, json=VALID_BODY, headers=AUTH).json()["task_info"]["id"]
    httpx.post(mock.url + "/__mock/clock/advance", json={"seconds": 3600})
    spellings = {
        task_id: True,
        task_id.upper(): True,  # the spec's `format: uuid` takes either case
        "{" + task_id + "}": False,
        task_id.replace("-", ""): False,
        "urn:uuid:" + task_id: False,
    }
    for spelling, found in spellings.items():
        answers = [
            httpx.get(mock.url + poll_path(spelling), headers=AUTH).status_code,
            httpx.get(mock.url + f"/__mock/assets/{spelling}/result_00.mp4").status_code,
            httpx.get(mock.url + f"/__mock/tasks/{spelling}").status_code,
        ]
        assert answers == ([200, 200, 200] if found else [404, 404, 404]), (spelling, answers)
