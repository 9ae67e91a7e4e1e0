"""The result video: a real MP4 that plays, served for succeeded tasks only (what is in it:
test_rendered_video.py)."""

from __future__ import annotations

import io

import av

from mockserver import Settings
from mockserver.clock import ManualClock
from sparkspec.resources import video_path
from tests.helpers import VALID_BODY, ClientFactory, SpecCheckedClient, create_ok, poll


def test_the_bundled_video_is_a_playable_1080p_mp4_with_sound() -> None:
    with av.open(str(video_path()), mode="r") as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == ("h264", 1920, 1080)
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None and 4.9 <= container.duration / 1e6 <= 5.1
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 120  # 5 s at 24 fps, every frame decodes


def test_a_succeeded_task_serves_its_video(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client, {**VALID_BODY, "duration": 10})
    clock.advance(600)
    url = poll(client, task_id)["videos"][0]
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(response.content), mode="r") as container:
        assert next(container.decode(video=0)).width == 1920
        assert container.duration == 10_000_000  # rendered for this request, not the bundled 5 s
    assert client.get(f"/__mock/tasks/{task_id}").json()["rendering"].startswith("10s-tone-1shot-")


def test_with_video_fixed_every_task_gets_the_bundled_file(make_client: ClientFactory, clock: ManualClock) -> None:
    client = make_client(Settings(video="fixed"))
    task_id = create_ok(client, {**VALID_BODY, "duration": 15, "audio": False})
    clock.advance(600)
    response = client.get(poll(client, task_id)["videos"][0])
    assert response.status_code == 200 and response.content == video_path().read_bytes()
    assert client.get(f"/__mock/tasks/{task_id}").json()["rendering"] is None


def test_range_requests_work_for_players(client: SpecCheckedClient, clock: ManualClock) -> None:
    task_id = create_ok(client)
    clock.advance(600)
    url = poll(client, task_id)["videos"][0]
    whole = client.get(url).content
    response = client.get(url, headers={"Range": "bytes=0-99"})
    assert response.status_code == 206 and response.content == whole[:100]
    response = client.get(url, headers={"Range": f"bytes={len(whole)}-"})  # past the end: ignored, the whole file
    assert response.status_code == 200 and response.content == whole


def test_no_video_before_success_or_after_failure(client: SpecCheckedClient, clock: ManualClock) -> None:
    running = create_ok(client)
    failing = create_ok(client, None, **{"X-Mock-Scenario": "fail=3001"})
    for task_id in [running, failing, "00000000-0000-4000-8000-000000000000"]:
        assert client.get(f"/__mock/assets/{task_id}/result_00.mp4").status_code == 404
    clock.advance(1000)
    assert client.get(f"/__mock/assets/{failing}/result_00.mp4").status_code == 404


def test_video_links_use_the_public_url_when_set(make_client: ClientFactory, clock: ManualClock) -> None:
    client = make_client(Settings(public_url="https://mock.example.test:9000/"))
    task_id = create_ok(client)
    clock.advance(600)
    assert poll(client, task_id)["videos"] == [f"https://mock.example.test:9000/__mock/assets/{task_id}/result_00.mp4"]
