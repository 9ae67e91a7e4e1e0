"""The HTTP protocol `spark-mock` runs: uvicorn's, with each response sent in one write.

Driven in-process through uvicorn's own protocol object, with a transport that records what it is
asked to do, so that the count of writes (each one a system call on a real socket) can be seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mockserver import Settings, create_app
from mockserver.http_protocol import FLUSH_AT, IMPORT_PATH, CoalescingHttpToolsProtocol, CoalescingTransport
from mockserver.spark_mock import main
from tests.helpers import AUTH, CREATE_PATH

BODY = b'{"prompt": "A black cat looks up at the sky", "image": "https://example.com/first_frame.jpg"}'
CREATE = (
    b"POST " + CREATE_PATH.encode() + b" HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
    b"Authorization: " + AUTH["Authorization"].encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
)
HEALTH = b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n"


class RecordingTransport:
    """What uvloop's transport would be asked: each write and the close, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after the close"
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write_eof(self) -> None:
        self.calls.append(("write_eof", b""))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", b""))

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def writes(self) -> list[bytes]:
        return [data for call, data in self.calls if call == "write"]


def exchange(protocol_class: type[HttpToolsProtocol], *chunks: bytes, responses: int = 1) -> RecordingTransport:
    """Feed ``chunks`` to a fresh connection of the mock and wait for ``responses`` answers."""

    async def run() -> RecordingTransport:
        config = Config(app=create_app(Settings()), log_level="warning", access_log=False)
        transport = RecordingTransport()
        protocol = protocol_class(
            config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
        )
        protocol.connection_made(transport)  # type: ignore[arg-type]
        for chunk in chunks:
            protocol.data_received(chunk)
        for _ in range(2000):
            await asyncio.sleep(0.001)
            if b"".join(transport.writes).count(b"HTTP/1.1 ") >= responses and not protocol.server_state.tasks:
                break
        await asyncio.sleep(0.01)  # anything more that would be written is written by now
        protocol.connection_lost(None)
        return transport

    return asyncio.run(run())


def test_a_create_is_answered_in_one_write() -> None:
    transport = exchange(CoalescingHttpToolsProtocol, CREATE)
    assert len(transport.writes) == 1
    (response,) = transport.writes
    assert response.startswith(b"HTTP/1.1 202 Accepted\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-length: %d" % len(body) in head and b'"task_info"' in body


def test_uvicorn_alone_writes_a_response_twice() -> None:
    """What the protocol saves: uvicorn writes the head and the body apart (and the count is seen)."""
    transport = exchange(HttpToolsProtocol, CREATE)
    assert len(transport.writes) == 2
    head, body = transport.writes
    assert head.startswith(b"HTTP/1.1 202") and head.endswith(b"\r\n\r\n") and body.startswith(b"{")


def test_pipelined_requests_are_answered_in_order() -> None:
    transport = exchange(CoalescingHttpToolsProtocol, CREATE + HEALTH, responses=2)
    sent = b"".join(transport.writes)
    assert sent.count(b"HTTP/1.1 ") == 2
    assert sent.index(b"HTTP/1.1 202") < sent.index(b"HTTP/1.1 200")


def test_what_is_written_before_a_close_goes_out_before_it() -> None:
    request = HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    transport = exchange(CoalescingHttpToolsProtocol, request)
    kinds = [call for call, _ in transport.calls]
    assert kinds[0] == "write" and set(kinds[1:]) == {"close"}  # closed again when the connection is lost
    assert transport.writes[0].startswith(b"HTTP/1.1 200")


def test_a_head_request_still_gets_its_head() -> None:
    """uvicorn writes no body for HEAD: the head must not wait for one."""
    transport = exchange(CoalescingHttpToolsProtocol, HEALTH.replace(b"GET", b"HEAD"))
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 ")


def test_a_malformed_request_gets_its_400_then_the_close() -> None:
    transport = exchange(CoalescingHttpToolsProtocol, b"NOT HTTP AT ALL\r\n\r\n")
    kinds = [call for call, _ in transport.calls]
    assert kinds[0] == "write" and set(kinds[1:]) == {"close"}  # closed again when the connection is lost
    assert transport.writes[0].startswith(b"HTTP/1.1 400")


def wrapped(check: Callable[[CoalescingTransport, RecordingTransport], None]) -> RecordingTransport:
    """Run ``check`` on a :class:`CoalescingTransport` over a recording one, in an event loop; then
    let the loop turn once and return the recording transport."""

    async def run() -> RecordingTransport:
        inner = RecordingTransport()
        check(CoalescingTransport(inner, asyncio.get_running_loop()), inner)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        return inner

    return asyncio.run(run())


def test_writes_of_one_turn_go_out_together_at_its_end() -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        transport.write(b"a")
        transport.writelines([bytearray(b"b"), memoryview(b"c")])
        assert transport.get_write_buffer_size() == 3 and inner.calls == []
        assert transport.get_extra_info("peername") == ("127.0.0.1", 50000)  # the rest goes through

    assert wrapped(check).calls == [("write", b"abc")]


def test_held_writes_are_dropped_once_the_peer_is_gone() -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        transport.write(b"a")
        inner.closing = True

    assert wrapped(check).calls == []


def test_held_bytes_stay_under_64_kib_when_the_writer_never_yields() -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        for _ in range(100):
            transport.write(b"x" * 10_000)
            assert transport.get_write_buffer_size() < FLUSH_AT

    inner = wrapped(check)
    assert b"".join(inner.writes) == b"x" * 1_000_000
    assert all(len(data) < FLUSH_AT + 10_000 for data in inner.writes) and len(inner.writes) == 15


def test_a_body_that_is_not_bytes_is_refused_where_it_is_sent() -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        with pytest.raises(TypeError, match="bytes-like"):
            transport.write("text")  # type: ignore[arg-type]

    assert wrapped(check).calls == []


def test_a_write_that_fails_later_ends_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        transport.write(b"a")
        inner.write = lambda data: 1 / 0  # type: ignore[method-assign, assignment]

    assert wrapped(check).calls == [("abort", b"")]
    assert "could not send a response" in caplog.text


def test_eof_and_abort_keep_the_order_of_the_bytes() -> None:
    def check(transport: CoalescingTransport, inner: RecordingTransport) -> None:
        transport.write(b"a")
        transport.write_eof()
        transport.write(b"dropped")
        transport.abort()

    assert wrapped(check).calls == [("write", b"a"), ("write_eof", b""), ("abort", b"")]


@pytest.mark.parametrize(("event", "sent_at_once"), [("eof_received", True), ("on_response_complete", False)])
def test_the_protocol_sends_what_is_held_when_the_client_ends_its_stream(event: str, sent_at_once: bool) -> None:
    """Not a turn later: a client's end of stream closes the connection before the turn ends. A complete
    response waits for the end of the turn, with the others of the turn."""

    async def run() -> None:
        inner = RecordingTransport()
        config = Config(app=create_app(Settings()), log_level="warning", access_log=False)
        loop = asyncio.get_running_loop()
        protocol = CoalescingHttpToolsProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        protocol.connection_made(inner)  # type: ignore[arg-type]
        protocol.transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        getattr(protocol, event)()
        assert inner.writes == ([b"HTTP/1.1 200 OK\r\n\r\n"] if sent_at_once else [])
        await asyncio.sleep(0)
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]
        protocol.connection_lost(None)

    asyncio.run(run())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_spark_mock_serves_with_this_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("mockserver.spark_mock.uvicorn.run", lambda app, **options: served.update(options))
    monkeypatch.setattr("mockserver.spark_mock.os.environ", {})  # the workers' settings go here, not into the tests'
    assert main(["--port", "8999", "--workers", workers, "--state-file", str(tmp_path / "state.sqlite")]) == 0
    assert served["http"] == IMPORT_PATH and served["ws"] == "none"
    assert import_from_string(IMPORT_PATH) is CoalescingHttpToolsProtocol
