"""The HTTP protocol `spark-mock` runs: uvicorn's, with each response sent in one write.

Driven in-process through uvicorn's own protocol object, with a transport that records what it is
asked to do, so that the count of writes (each one a system call on a real socket) can be seen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mockserver import Settings, create_app
from mockserver.cli import main
from mockserver.http_protocol import IMPORT_PATH, CoalescingHttpToolsProtocol, CoalescingTransport
from tests.conftest import AUTH, CREATE_PATH

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


@pytest.mark.parametrize("closed_before_the_turn_ends", [True, False])
def test_held_writes_are_dropped_once_the_connection_is_closing(closed_before_the_turn_ends: bool) -> None:
    async def run() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"a")
        transport.write(b"b")
        assert transport.get_write_buffer_size() == 2 and inner.calls == []
        if closed_before_the_turn_ends:
            inner.closing = True  # the peer went away
        await asyncio.sleep(0)
        assert transport.get_extra_info("peername") == ("127.0.0.1", 50000)  # the rest goes through
        return inner

    inner = asyncio.run(run())
    assert inner.calls == ([] if closed_before_the_turn_ends else [("write", b"ab")])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_spark_mock_serves_with_this_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("mockserver.cli.uvicorn.run", lambda app, **options: served.update(options))
    monkeypatch.setattr("mockserver.cli.os.environ", {})  # the workers' settings go here, not into the tests'
    assert main(["--port", "8999", "--workers", workers, "--state-file", str(tmp_path / "state.sqlite")]) == 0
    assert served["http"] == IMPORT_PATH
    assert import_from_string(IMPORT_PATH) is CoalescingHttpToolsProtocol
