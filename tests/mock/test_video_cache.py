"""Renderings are made ahead, off the event loop, once per distinct request, kept in a bounded cache
that outlives a restart, and waited for (never served in part) when a download comes first."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import Settings, create_app
from mockserver.clock import ManualClock
from mockserver.launcher import free_port
from mockserver.render_queue import RenderQueue
from mockserver.video_cache import VideoCache
from mockserver.video_recipe import recipe_for
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, ClientFactory, create_ok, poll, serve
from tests.video_probe import data_uri, probe, quadrants

# A request's fields as the contract admits them: the spec's defaults filled in.
FIELDS = {**VALID_BODY, "duration": 5, "prompt_extend": True}
DARK_SQUARE = data_uri(quadrants((800, 800), ((9, 9, 9),) * 4))


def download(client: TestClient, clock: ManualClock, body: dict[str, Any]) -> tuple[str, bytes]:
    """Create a task, let it succeed and download its video: its rendering key and its bytes."""
    task_id = create_ok(client, body)
    clock.advance(1000)
    response = client.get(poll(client, task_id)["videos"][0])
    assert response.status_code == 200
    return str(client.get(f"/__mock/tasks/{task_id}").json()["rendering"]), response.content


def videos(state_file: Path) -> list[str]:
    return sorted(path.name for path in state_file.with_name(state_file.name + "-videos").iterdir())


def test_identical_requests_share_one_rendering(make_client: ClientFactory, clock: ManualClock, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    client = make_client(Settings(state_file=state))
    key, first = download(client, clock, VALID_BODY)
    # The prompt and the seed change nothing the mock can show; the sound does.
    again, second = download(client, clock, {**VALID_BODY, "prompt": "Another prompt", "seed": 7})
    silent, _ = download(client, clock, {**VALID_BODY, "audio": False})
    assert again == key and second == first
    assert silent != key
    assert videos(state) == sorted([f"{key}.mp4", f"{silent}.mp4"])


def test_the_cache_keeps_at_most_its_capacity_and_makes_a_dropped_video_again(
    make_client: ClientFactory, clock: ManualClock, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    client = make_client(Settings(state_file=state, video_cache=2))
    oldest, _ = download(client, clock, VALID_BODY)
    silent, _ = download(client, clock, {**VALID_BODY, "audio": False})
    _, _ = download(client, clock, {**VALID_BODY, "audio_url": "https://example.com/a.mp3"})
    assert len(videos(state)) == 2 and f"{oldest}.mp4" not in videos(state)  # the least recently used went
    task_id = create_ok(client)  # the request of the dropped one
    clock.advance(1000)
    video = probe(client.get(poll(client, task_id)["videos"][0]).content)
    assert video.duration == pytest.approx(5.0, abs=1e-3) and video.codecs == ("h264", "aac")
    assert len(videos(state)) == 2 and f"{silent}.mp4" not in videos(state)


def test_a_create_answers_before_its_video_is_rendered_and_the_download_waits_for_it(
    make_client: ClientFactory, clock: ManualClock, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    client = make_client(Settings(state_file=state))
    task_id = create_ok(client)
    key = client.get(f"/__mock/tasks/{task_id}").json()["rendering"]
    assert f"{key}.mp4" not in videos(state)  # still being rendered, in another process
    clock.advance(1000)
    video = probe(client.get(poll(client, task_id)["videos"][0]).content)
    assert video.problems == [] and video.duration == pytest.approx(5.0, abs=1e-3)


def test_renderings_outlive_the_process_and_dead_parts_are_cleared(tmp_path: Path) -> None:
    recipe = recipe_for(FIELDS, "single")
    before = VideoCache(tmp_path, 10)
    before.want(recipe)
    made = asyncio.run(before.file(recipe.key))
    assert made is not None and made.stat().st_size > 0
    dead = tmp_path / f"{recipe.key}.standin.999999999.part"  # left by a process that died rendering
    dead.touch()
    # What the next process on the same state file finds; its queue could render nothing.
    after = VideoCache(tmp_path, 10, RenderQueue(max_jobs=0))
    assert not dead.exists()
    after.want(recipe)
    assert asyncio.run(after.file(recipe.key)) == made


def test_a_rendering_is_due_shortly_before_its_task_ends_or_at_once_when_a_download_waits(tmp_path: Path) -> None:
    recipe = recipe_for({**FIELDS, "audio": False}, None)
    cache = VideoCache(tmp_path, 10)
    cache.want(recipe, ready_in=3600)  # a task an hour long: nothing to render for a while
    time.sleep(0.3)
    assert not (tmp_path / f"{recipe.key}.mp4").exists()
    path = asyncio.run(cache.file(recipe.key))  # its download comes early (a clock moved on)
    assert path == tmp_path / f"{recipe.key}.mp4"


def test_a_download_waits_for_a_rendering_another_worker_is_making(tmp_path: Path) -> None:
    recipe = recipe_for({**FIELDS, "image": DARK_SQUARE}, None)
    maker, other = VideoCache(tmp_path, 10, shared=True), VideoCache(tmp_path, 10, shared=True)
    maker._pid = os.getppid()  # as if it were another live process: its part files name it
    maker.want(recipe, ready_in=3600)  # not due for an hour: the download asks that process to hurry
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("*.part")):
        assert time.monotonic() < deadline, "the maker never began its rendering"
        time.sleep(0.01)
    path = asyncio.run(other.file(recipe.key))
    assert path is not None and path.name == f"{recipe.key}.mp4"  # the real one, not made again without its image
    assert probe(path.read_bytes()).width == 1080
    assert not list(tmp_path.glob("*.wanted"))


def test_a_job_the_queue_has_no_room_for_is_made_without_its_images(tmp_path: Path) -> None:
    recipe = recipe_for({**FIELDS, "image": DARK_SQUARE}, None)
    cache = VideoCache(tmp_path, 10, RenderQueue(max_bytes=0))  # room for no image at all
    cache.want(recipe)
    path = asyncio.run(cache.file(recipe.key))
    assert path is not None and path.name == f"{recipe.key}.standin.mp4"
    video = probe(path.read_bytes())
    assert (video.width, video.height, video.duration) == (1920, 1080, 5.0)
    assert "images were no longer at hand" in video.comment


@pytest.mark.socket
def test_at_speed_600_the_video_is_whole_as_soon_as_the_task_succeeds(tmp_path: Path) -> None:
    app = create_app(Settings(speed=600, state_file=tmp_path / "state.sqlite"))
    with serve(app, free_port()) as url, httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        body = {**VALID_BODY, "duration": 10, "audio": False}
        task_id = client.post(CREATE_PATH, json=body).json()["task_info"]["id"]
        while (polled := client.get(f"{CREATE_PATH}/{task_id}").json())["task_info"]["status"] != "succeeded":
            time.sleep(0.02)
        video = probe(client.get(polled["videos"][0]).content)
    assert video.problems == [] and video.duration == pytest.approx(10.0, abs=1e-3) and len(video.frames) == 80
