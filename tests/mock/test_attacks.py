"""What an attack on the mock found, each sent over a real socket to `spark-mock` as a user runs it.

Each test fails against the code before its fix: ``ATTACK_TREE=<checkout of an older commit>`` runs the
same tests against that tree's mock (``python -m mockserver`` started there), to show it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from contract_tests.images import data_uri, make_image
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
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def test_clients_that_never_finish_their_bodies_hold_up_no_upload(
    mock: MockProcess,
) -> None:
    stalled = []
    for _ in range(3):
        sock = _connect(mock)
        head = f"POST {CREATE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-mr-k\r\n"
        sock.sendall((head + "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{").encode())
        stalled.append(sock)
    # A round trip after they were sent: by its answer the mock has read them (and before, they held both turns).
    assert mock.alive()
    large = {**VALID_BODY, "padding": "x" * 400_000}  # over the size that is parsed off the event loop
    started = time.monotonic()
    answer = httpx.post(mock.url + CREATE_PATH, json=large, headers=AUTH, timeout=READ_TIMEOUT * 3)
    # Received before it waits for a turn, which the stalled bodies never take: no wait for their timeout.
    assert answer.status_code == 202 and time.monotonic() - started < READ_TIMEOUT / 2
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
            f"POST {CREATE_PATH} HTTP/1.1\r\nAuthorization: Bearer sk-mr-k\r\nContent-Type: application/json\r\n"
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


def test_the_room_for_large_bodies_is_bounded_and_a_body_past_it_gets_503(tmp_path: Path) -> None:
    limit = 1_000_000  # so that 32 bodies' worth of room fills with 32 MB
    sockets: list[socket.socket] = []
    env = {"MOCK_MAX_BODY_BYTES": str(limit), "MOCK_READ_TIMEOUT": str(READ_TIMEOUT)}
    with contextlib.contextmanager(_launch)(env=env) as mock, contextlib.ExitStack() as open_sockets:
        head = (
            f"POST {CREATE_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-mr-k\r\n"
            f"Content-Type: application/json\r\nContent-Length: {limit}\r\n\r\n"
        ).encode()
        for _ in range(32):  # each sends all but the last byte of its body, and stops: the room is full
            sock = open_sockets.enter_context(_connect(mock))
            sock.sendall(head + b"{" + b" " * (limit - 2))
            sockets.append(sock)
        assert mock.alive()  # a round trip: by now the mock has received them
        late = open_sockets.enter_context(_connect(mock))
        late.sendall(head + b"{" + b" " * 100_000)
        reply = _answer(late, 5)
        assert reply.startswith(b"HTTP/1.1 503"), reply[:200]
        head_503, body = reply.split(b"\r\n\r\n", 1)
        assert b"retry-after: 1" in head_503.lower() and json.loads(body)["error_code"] == 503
        assert not any(_answer(sock, 0.05) for sock in sockets)  # those still wait for their last byte
        assert httpx.post(mock.url + CREATE_PATH, json=VALID_BODY, headers=AUTH).status_code == 202


def test_a_client_that_pipelines_and_never_reads_is_read_one_chunk_at_a_time(mock: MockProcess) -> None:
    before = mock.memory("VmRSS")
    request = f"GET {poll_path('nope')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-mr-k\r\n\r\n".encode()
    with _connect(mock) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.5)
        sent = 0
        with contextlib.suppress(TimeoutError):  # the mock stops reading, and the socket fills
            while sent < 100_000:
                sock.sendall(request * 1000)
                sent += 1000
        grown = mock.memory("VmRSS") - before
    assert grown < 40 * 2**20, f"{sent} pipelined requests grew the process by {grown / 2**20:.0f} MB"
    assert mock.alive()


def test_a_body_of_millions_of_values_is_refused_before_it_is_parsed() -> None:
    with contextlib.contextmanager(_launch)() as mock:
        before = max(mock.memory("VmHWM"), mock.memory("VmRSS"))
        filler = b"{}," * (10 * 2**20)  # 30 MB of empty objects, under the 32 MB limit
        raw = json.dumps(VALID_BODY).encode()[:-1] + b', "x": [' + filler + b"{}]}"
        answer = httpx.post(
            mock.url + CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"}, timeout=60
        )
        assert answer.status_code == 413 and "JSON values" in answer.json()["detail"], answer.text[:200]
        grown = mock.memory("VmHWM") - before
        assert grown < 300 * 2**20, f"the peak RSS grew by {grown / 2**20:.0f} MB"


def _rle_bmp(stream: bytes, side: int = 2000) -> bytes:
    """An 8-bit run-length BMP of ``side`` x ``side`` with ``stream`` as its pixel data."""
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(stream), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(stream), 0, 0, offset) + info + palette + stream


def test_run_length_bmps_never_stall_the_event_loop(mock: MockProcess) -> None:
    # One pixel, then end-of-line, on every row: Pillow's decoder pads each row a byte at a time in Python.
    image = data_uri(_rle_bmp(b"\x01\x07\x00\x00" * 2000 + b"\x00\x01"), "BMP")
    body = {**VALID_BODY, "image": image}
    with ThreadPoolExecutor(4) as pool:
        creates = [
            pool.submit(httpx.post, mock.url + CREATE_PATH, json=body, headers=AUTH, timeout=30) for _ in range(4)
        ]
        waits = []
        while not all(f.done() for f in creates):
            started = time.monotonic()
            httpx.get(mock.url + "/__mock/health", timeout=30)
            waits.append(time.monotonic() - started)
        assert [f.result().status_code for f in creates] == [202] * 4
    # Decoded by Pillow, each such image held the loop about 0.5 s; checked as now, a few milliseconds.
    assert max(waits) < 0.45, f"a health check waited {max(waits):.2f} s"


def _jpeg_with_thumbnail() -> bytes:
    """A camera-like JPEG: an EXIF segment holding a whole thumbnail JPEG (with its own end marker) first."""
    photo = make_image("JPEG", 800, 600)
    thumbnail = make_image("JPEG", 160, 120)
    exif = b"Exif\x00\x00" + thumbnail
    return photo[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + photo[2:]


def _png_with_pixel_data(idat: bytes) -> bytes:
    png = make_image("PNG", 400, 400)
    chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return png[:33] + chunk + png[-12:]  # the signature and IHDR, this IDAT, IEND


def _deflated_zeros(sixteen_mbs: int) -> bytes:
    """A zlib stream of ``sixteen_mbs`` times 16 MiB of zeros, made without compressing them all: after a
    full flush a compressor forgets what came before, so each further 16 MiB compresses to the same bytes."""
    compressor, zeros = zlib.compressobj(9), bytes(16 * 2**20)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + again * (sixteen_mbs - 1) + compressor.flush()


def test_images_whose_pixel_data_is_missing_or_broken_are_refused(mock: MockProcess) -> None:
    camera = _jpeg_with_thumbnail()
    scan = camera.rindex(b"\xff\xda")
    scan_end = scan + 2 + int.from_bytes(camera[scan + 2 : scan + 4], "big")
    refused = {
        "JPEG cut to half": (camera[: len(camera) // 2], "JPEG"),
        "JPEG cut to a tenth": (camera[: len(camera) // 10], "JPEG"),
        "JPEG without scan data": (camera[:scan_end] + b"\xff\xd9", "JPEG"),
        "JPEG without a scan": (camera[:scan] + b"\xff\xd9", "JPEG"),
        "PNG with garbage pixel data": (_png_with_pixel_data(b"garbage!" * 100), "PNG"),
        "PNG with empty pixel data": (_png_with_pixel_data(b""), "PNG"),
        "PNG whose pixel data inflates to 1 GiB": (_png_with_pixel_data(_deflated_zeros(64)), "PNG"),
        "run-length BMP cut short": (_rle_bmp(b"\x01\x07\x00\x00" * 2000 + b"\x00\x01")[:-200], "BMP"),
    }
    for name, (data, kind) in refused.items():
        answer = httpx.post(mock.url + CREATE_PATH, json={**VALID_BODY, "image": data_uri(data, kind)}, headers=AUTH)
        assert answer.status_code == 400 and "image: is a corrupt or truncated image" in answer.text, name
    whole = httpx.post(mock.url + CREATE_PATH, json={**VALID_BODY, "image": data_uri(camera, "JPEG")}, headers=AUTH)
    assert whole.status_code == 202, whole.text


def test_urls_and_data_uris_are_read_as_their_rfcs_say(mock: MockProcess) -> None:
    png = make_image("PNG", 400, 400)
    answers = {
        "https://example.com:notaport/a.png": 400,
        "https://example.com:99999999/a.png": 400,
        "https://[zz]/a.png": 400,
        "https://-/a.png": 400,
        "https://example.com/" + "a" * 10_000_000: 400,
        "DATA:IMAGE/PNG;BASE64," + base64.b64encode(png).decode(): 202,  # schemes and types ignore case
        "data:image/;base64," + base64.b64encode(png).decode(): 400,  # no subtype
        "https://[::1]:8080/a.png": 202,
    }
    for image, status in answers.items():
        answer = httpx.post(mock.url + CREATE_PATH, json={**VALID_BODY, "image": image}, headers=AUTH, timeout=30)
        assert answer.status_code == status, (image[:60], answer.text[:200])
    for audio_url, status in {
        "ftp://example.com/a.mp3": 400,
        "data:audio/mpeg;base64,SUQz": 400,
        "HTTPS://example.com/a.mp3": 202,
    }.items():
        answer = httpx.post(mock.url + CREATE_PATH, json={**VALID_BODY, "audio_url": audio_url}, headers=AUTH)
        assert answer.status_code == status, (audio_url, answer.text[:200])
