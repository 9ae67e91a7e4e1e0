"""The mock as a process under abuse, over real sockets: bad input of every kind, bodies past the
limit, very large bodies at once and thousands of connections. Each gets a 4xx in the API's error
shape or its answer, never a 5xx; the process stays up, and its memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from contract_tests.images import data_uri, make_image, truncate, with_png_dimensions
from mockserver.launcher import SPARK_MOCK, MockProcess, launch

pytestmark = pytest.mark.socket
CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
AUTH = {"Authorization": "Bearer sk-mr-load-test"}
JSON = {**AUTH, "Content-Type": "application/json"}
MAX_BODY = 32 * 1024 * 1024  # the default MOCK_MAX_BODY_BYTES
CONNECTIONS = 3000


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProcess]:
    """`spark-mock`, as `make mock` starts it, with room for thousands of open files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * CONNECTIONS + 512  # the client's sockets here and the server's there, plus the rest
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    with launch("--speed", "1000", log=tmp_path_factory.mktemp("mock") / "mock.log", program=SPARK_MOCK) as running:
        yield running
    text = running.output()
    assert running.process.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def _png_bomb(side: int = 30_000) -> bytes:
    """A real decompression bomb: a 1-bit PNG of ``side`` x ``side`` zeros, 110 MB unpacked, ~110 KB packed."""
    row = b"\x00" * (1 + side // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _with_image(value: str) -> bytes:
    return json.dumps({"prompt": "a", "image": value}).encode()


def _bad_inputs() -> dict[str, tuple[dict[str, str], bytes, int]]:
    """Each kind of bad input the issue names: its headers, its body, and the status it must get."""
    photo = make_image("PNG", 800, 600)
    return {
        "malformed JSON": (JSON, b'{"prompt": "a", "image": ', 400),
        "the wrong content type": ({**AUTH, "Content-Type": "text/plain"}, _with_image("https://x.y/a.png"), 415),
        "invalid Base64": (JSON, _with_image("data:image/png;base64,!!!!not*base64"), 400),
        "a truncated image": (JSON, _with_image(data_uri(truncate(photo))), 400),
        "a decompression bomb": (JSON, _with_image(data_uri(_png_bomb())), 400),
        "absurd dimensions": (JSON, _with_image(data_uri(with_png_dimensions(photo, 2**31 - 1, 2**31 - 1))), 400),
        "text that is not UTF-8": (JSON, b'{"prompt": "\xff\xfe\xfd", "image": "https://x.y/a.png"}', 400),
        "deeply nested JSON": (JSON, b"[" * 200_000 + b"]" * 200_000, 413),  # 200,000 values: past the bound
        "a JSON array": (JSON, b'[{"prompt": "a", "image": "https://x.y/a.png"}]', 400),
    }


def test_every_kind_of_bad_input_gets_a_clear_4xx_and_memory_stays_bounded(mock: MockProcess) -> None:
    cases = _bad_inputs()
    with httpx.Client(base_url=mock.url, timeout=30) as client:
        for name, (headers, body, status) in cases.items():  # once each, to warm up
            assert client.post(CREATE_PATH, content=body, headers=headers).status_code == status, name
    before = mock.memory("VmRSS")

    def send(name: str) -> tuple[str, int, dict[str, object]]:
        headers, body, _ = cases[name]
        with httpx.Client(base_url=mock.url, timeout=30) as client:
            answer = client.post(CREATE_PATH, content=body, headers=headers)
            return name, answer.status_code, answer.json()

    rounds = 30
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, [name for _ in range(rounds) for name in cases]))
    wrong = [(name, status) for name, status, _ in answers if status != cases[name][2]]
    assert not wrong, wrong[:10]
    for name, _, error in answers:
        assert set(error) >= {"error_code", "title", "detail"} and error["detail"], (name, error)
    after = mock.memory("VmRSS")
    assert after - before < 64 * 1024 * 1024, (
        f"RSS grew by {(after - before) / 2**20:.0f} MB over {len(answers)} requests"
    )
    assert mock.alive()
    with httpx.Client(base_url=mock.url, timeout=10) as client:
        assert (
            client.post(CREATE_PATH, json={"prompt": "a", "image": "https://x.y/a.png"}, headers=AUTH).status_code
            == 202
        )


def test_a_body_shorter_than_its_content_length_neither_hangs_nor_crashes(mock: MockProcess) -> None:
    with socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock:
        sock.sendall(
            f"POST {CREATE_PATH} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer sk-mr-k\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{}".encode()
        )
        sock.shutdown(socket.SHUT_WR)  # the promised bytes never come
        answer = _read_all(sock)  # the mock closes the connection; it does not wait for the rest
    assert answer == b"" or _split(answer)[0] == 400
    journal = httpx.get(f"{mock.url}/__mock/requests", params={"limit": 5}).json()["requests"]
    cut = [e for e in journal if e["headers"].get("content-length") == "1000"]
    assert cut and cut[-1]["status"] == 400, journal  # recorded as a bad request; the teardown finds no traceback


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _split(answer: bytes) -> tuple[int, bytes, bytes]:
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, payload


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(mock: MockProcess) -> None:
    with socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock:
        head = (
            f"POST {CREATE_PATH} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer sk-mr-k\r\n"
            "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        )
        started = time.monotonic()
        sock.sendall(head.encode())  # and not one byte of the ten gigabytes
        status, _, payload = _split(_read_until_body(sock))
        waited = time.monotonic() - started
    assert status == 413 and waited < 5
    assert json.loads(payload)["detail"] == f"The request body is larger than {MAX_BODY} bytes"


def test_a_chunked_body_is_cut_off_at_the_limit(mock: MockProcess) -> None:
    """No length announced: the mock reads up to the limit, answers 413, and reads no further."""
    rss_before = mock.memory("VmRSS")
    with socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock:
        head = (
            f"POST {CREATE_PATH} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer sk-mr-k\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        piece = b"%x\r\n%s\r\n" % (1 << 20, b"7" * (1 << 20))
        sent = 0
        try:
            while sent < 4 * MAX_BODY:
                sock.sendall(piece)
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the mock stopped reading, as it should
        status, _, payload = _split(_read_until_body(sock))
    assert status == 413, payload[:200]
    assert sent < 4 * MAX_BODY, "the mock kept reading past four times its limit"
    assert mock.memory("VmRSS") - rss_before < 2 * MAX_BODY
    assert mock.alive()


def _read_until_body(sock: socket.socket) -> bytes:
    """The status line, the headers and the Content-Length bytes of the body, however the socket ends."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def test_many_large_bodies_at_once_do_not_add_up_in_memory(mock: MockProcess) -> None:
    """Twelve 30 MB bodies at the same moment: the mock reads and decodes at most two at a time."""
    image = "data:image/png;base64," + "A" * (30 * 1024 * 1024)  # valid Base64, far over 10 MB once decoded
    body = _with_image(image)
    peak_before = mock.memory("VmHWM")
    rss_before = mock.memory("VmRSS")

    def send(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=mock.url, timeout=120) as client:
            answer = client.post(CREATE_PATH, content=body, headers=JSON)
            return answer.status_code, answer.json()["detail"]

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, range(12)))
    assert all(status == 400 and "image: " in detail for status, detail in answers), answers[:2]
    grown = mock.memory("VmHWM") - max(peak_before, rss_before)
    # One body held as bytes, as text and as the decoded image is about 100 MB; twelve would be 1.2 GB.
    assert grown < 400 * 1024 * 1024, f"the peak RSS grew by {grown / 2**20:.0f} MB"
    assert mock.alive()


def test_thousands_of_concurrent_connections(mock: MockProcess) -> None:
    """Every connection is opened first, then each sends a create: all are open at once."""
    body = _with_image("https://example.com/cat.png")
    request = (
        f"POST {CREATE_PATH} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer sk-mr-k\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body

    async def storm() -> list[int]:
        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            for attempt in range(50):  # the listen backlog may be full for a moment: retry as a client does
                try:
                    return await asyncio.open_connection("127.0.0.1", mock.port)
                except OSError:
                    await asyncio.sleep(0.05 * (attempt + 1))
            raise AssertionError("could not connect")

        connections = await asyncio.gather(*(connect() for _ in range(CONNECTIONS)))

        async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
            writer.write(request)
            await writer.drain()
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            return int(answer.split(b" ", 2)[1]) if answer else 0

        return await asyncio.wait_for(asyncio.gather(*(exchange(r, w) for r, w in connections)), 120)

    rss_before = mock.memory("VmRSS")
    statuses = asyncio.run(storm())
    assert statuses.count(202) == CONNECTIONS, {s: statuses.count(s) for s in set(statuses)}
    assert mock.memory("VmRSS") - rss_before < 200 * 1024 * 1024
    assert mock.alive()
