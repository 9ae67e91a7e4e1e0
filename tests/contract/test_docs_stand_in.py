"""The docs-only stand-in (tests/stand_ins/docs_only.py) behaves as its docstring says."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient
from starlette.types import Message

from tests.stand_ins import docs_only as module
from tests.stand_ins.docs_only import StandIn, docs_stand_in

KEY = "sk-mr-docs-stand-in-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CREATE = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
BODY: dict[str, Any] = {"prompt": "A black cat looks up at the sky", "image": "https://example.com/cat.jpg"}
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TracedClient(TestClient):
    """Checks that every answer carries a well-formed Traceparent."""

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(method, url, **kwargs)
        assert TRACEPARENT.fullmatch(response.headers.get("traceparent", "")), response.headers
        return response


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(fake_clock: FakeClock) -> StandIn:
    return docs_stand_in(KEY, speed_seconds=3.0, clock=fake_clock)


@pytest.fixture
def client(app: StandIn) -> TracedClient:
    return TracedClient(app)


def image_bytes(fmt: str, size: tuple[int, int] = (400, 400), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white" if mode != "RGBA" else (255, 255, 255, 255)).save(buffer, fmt)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def create(client: TestClient, **fields: Any) -> httpx.Response:
    return client.post(CREATE, json={**BODY, **fields}, headers=AUTH)


def test_a_task_walks_from_pending_to_completed(client: TracedClient, app: StandIn, fake_clock: FakeClock) -> None:
    created = create(client)
    assert created.status_code == 202
    info = created.json()["task_info"]
    assert info["status"] == "pending" and set(info) == {"id", "status", "created_at", "updated_at"}
    assert STAMP.fullmatch(info["created_at"]) and info["updated_at"] == info["created_at"]
    assert list(app.tasks) == [info["id"]]
    seen = []
    for now in (1000.5, 1001.5, 1002.5, 1003.5, 999.0):  # the last one: a clock that went back
        fake_clock.now = now
        polled = client.get(f"{CREATE}/{info['id']}", headers=AUTH)
        assert polled.status_code == 200
        seen.append((polled.json()["task_info"]["status"], polled.json()["task_info"]["updated_at"]))
        assert polled.json()["task_info"]["created_at"] == info["created_at"]
    assert [status for status, _ in seen] == ["pending", "processing", "completed", "completed", "completed"]
    stamps = [updated for _, updated in seen]
    assert stamps == sorted(stamps) and stamps[0] < stamps[1] < stamps[2] == stamps[4]
    videos = polled.json()["videos"]
    assert videos == [f"http://testserver/files/{info['id']}/result_00.mp4"]
    video = client.get(videos[0])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == module.VIDEO_FILE.read_bytes() and video.content[4:8] == b"ftyp"


@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {KEY}", f"bearer {KEY}", KEY, f"Bearer {KEY} "])
def test_a_missing_or_wrong_key_is_a_401(client: TracedClient, app: StandIn, auth: str | None) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    response = client.post(CREATE, json=BODY, headers=headers)
    assert response.status_code == 401 and "error" in response.json()
    task_id = create(client).json()["task_info"]["id"]
    assert client.get(f"{CREATE}/{task_id}", headers=headers).status_code == 401
    assert len(app.tasks) == 1


def test_unknown_tasks_paths_and_methods(client: TracedClient) -> None:
    for task_id in ("3c90c3cc-0d44-4b50-8888-8dd25736052a", "not-a-uuid"):
        response = client.get(f"{CREATE}/{task_id}", headers=AUTH)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json" and isinstance(response.json()["error"], str)
    assert client.get("/files/nope/result_00.mp4").status_code == 404
    refused = client.get(CREATE, headers=AUTH)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST" and "error" in refused.json()


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "x" * 2000, "negative_prompt": "é" * 500},
        {"negative_prompt": None, "last_frame": None, "seed": None, "resolution": None, "duration": None},
        {"shot_type": None, "audio": None, "audio_url": None, "prompt_extend": None},
        {"multi_shots": "triple", "safety_filter": {"any": ["thing"]}},
        {"duration": 5.0, "seed": 2147483647.0, "resolution": "1080P", "shot_type": "multi", "audio": False},
        {"audio_url": "https://example.com/" + "a" * 9000 + ".mp3", "prompt_extend": True, "seed": 0},
        {"image": data_uri(image_bytes("JPEG"), "image/jpeg")},
        {"last_frame": data_uri(image_bytes("WEBP"), "image/webp")},
        {"image": base64.b64encode(image_bytes("BMP", (2000, 360))).decode()},
        {"image": data_uri(image_bytes("PNG", mode="P"), "image/anything")},
        {"image": data_uri(image_bytes("JPEG")[: len(image_bytes("JPEG")) * 6 // 10])},  # cut short at 60 %
    ],
)
def test_bodies_the_docs_allow_are_accepted(client: TracedClient, app: StandIn, fields: dict[str, Any]) -> None:
    response = create(client, **fields)
    assert response.status_code == 202, response.text
    assert len(app.tasks) == 1


def rgba_png() -> str:
    return data_uri(image_bytes("PNG", mode="RGBA"))  # every pixel opaque, but the mode has alpha


def palette_png_with_trns() -> str:
    image = Image.new("P", (400, 400), 0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=5)
    return data_uri(buffer.getvalue())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"image": None}, "image"),
        ({"negative_prompt": "x" * 501}, "negative_prompt"),
        ({"image": rgba_png()}, "image"),
        ({"last_frame": palette_png_with_trns()}, "last_frame"),
        ({"image": data_uri(image_bytes("PNG", (359, 400)))}, "image"),
        ({"image": data_uri(image_bytes("GIF"))}, "image"),
        ({"image": "data:image/png;base64,@@@@"}, "image"),
        ({"image": "ftp://example.com/cat.jpg"}, "image"),
        ({"duration": True}, "duration"),
        ({"duration": "5"}, "duration"),
        ({"duration": 6}, "duration"),
        ({"seed": 2147483648}, "seed"),
        ({"seed": False}, "seed"),
        ({"resolution": "720P"}, "resolution"),
        ({"shot_type": "triple"}, "shot_type"),
        ({"audio": "yes"}, "audio"),
        ({"prompt_extend": 1}, "prompt_extend"),
        ({"audio_url": "data:audio/mp3;base64,AAAA"}, "audio_url"),
        ({"audio_url": "not a url"}, "audio_url"),
        ({"audio_url": 3}, "audio_url"),
    ],
)
def test_bodies_the_docs_refuse_are_400s_naming_the_field(
    client: TracedClient, app: StandIn, fields: dict[str, Any], field: str
) -> None:
    response = create(client, **fields)
    assert response.status_code == 400 and field in response.json()["error"], response.text
    assert not app.tasks


def test_the_10mb_limit_is_decimal(client: TracedClient, app: StandIn) -> None:
    png = image_bytes("PNG")
    at_limit = png + b"\0" * (10_000_000 - len(png))  # Pillow reads the header only; the tail is never looked at
    assert create(client, image=data_uri(at_limit)).status_code == 202
    refused = create(client, image=data_uri(at_limit + b"\0"))
    assert refused.status_code == 400 and "10MB" in refused.json()["error"]
    assert len(app.tasks) == 1


def test_bodies_that_are_not_json_objects_are_400s(client: TracedClient, app: StandIn) -> None:
    for content, content_type in [(b"[1]", "application/json"), (b"{", "application/json"), (b"{}", "text/plain")]:
        response = client.post(CREATE, content=content, headers={**AUTH, "Content-Type": content_type})
        assert response.status_code == 400 and "error" in response.json()
    assert not app.tasks


def test_a_body_over_40mb_is_a_413_read_no_further(app: StandIn) -> None:
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"authorization", AUTH["Authorization"].encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": CREATE, "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and received == 41
    assert any(name == b"traceparent" for name, _ in sent[0]["headers"])


def test_the_store_is_bounded(client: TracedClient, app: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_TASKS", 3)
    ids = [create(client).json()["task_info"]["id"] for _ in range(5)]
    assert list(app.tasks) == ids[2:]
    assert client.get(f"{CREATE}/{ids[0]}", headers=AUTH).status_code == 404
