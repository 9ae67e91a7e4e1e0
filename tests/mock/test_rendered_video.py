"""A succeeded task's video is made from its own request, and reads back as such with a real decoder:
its length, its frame size, its streams, its first and last frames, its cuts."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest

from mockserver import Settings
from mockserver.clock import ManualClock
from sparkspec.resources import video_path
from tests.helpers import VALID_BODY, ClientFactory, SpecCheckedClient, create_ok, poll
from tests.video_probe import Probe, cuts, data_uri, expected_grid, grid, probe, quadrants

WARM = ((200, 40, 40), (230, 200, 60), (120, 60, 20), (250, 240, 230))
COOL = ((20, 60, 200), (40, 180, 170), (10, 20, 60), (160, 200, 250))
GREEN = ((30, 160, 60), (200, 230, 120), (10, 80, 40), (120, 120, 120))
# Mean colour of a quadrant, after H.264, chroma subsampling and the decoder's own scaling.
TOLERANCE = 12


def rendered(client: SpecCheckedClient, clock: ManualClock, body: dict[str, Any]) -> Probe:
    """Create a task, let it succeed, download its video and read it back."""
    task_id = create_ok(client, body)
    clock.advance(1000)
    response = client.get(poll(client, task_id)["videos"][0])
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    assert response.content != video_path().read_bytes()
    return probe(response.content)


def shows(frame: np.ndarray, colours: Any) -> bool:
    return bool(np.abs(grid(frame) - expected_grid(colours)).max() <= TOLERANCE)


def test_the_default_request_gets_5_s_of_1080p_with_sound(client: SpecCheckedClient, clock: ManualClock) -> None:
    video = rendered(client, clock, VALID_BODY)
    assert video.problems == []
    assert (video.width, video.height, video.codecs) == (1920, 1080, ("h264", "aac"))
    assert video.duration == pytest.approx(5.0, abs=1e-3)
    assert video.stream_seconds == pytest.approx((5.0, 5.0), abs=1e-3)
    assert cuts(video.frames) == []
    assert "URL, which the mock never fetches" in video.comment


def test_a_silent_10_s_video_goes_from_its_first_frame_to_its_last(
    client: SpecCheckedClient, clock: ManualClock
) -> None:
    body = {
        **VALID_BODY,
        "image": data_uri(quadrants((1200, 800), WARM), "JPEG"),  # 3:2: cropped at the top and bottom
        "last_frame": data_uri(quadrants((900, 600), COOL)),
        "duration": 10,
        "audio": False,
    }
    video = rendered(client, clock, body)
    assert video.problems == []
    assert (video.width, video.height, video.codecs) == (1920, 1080, ("h264",))  # no audio stream at all
    assert video.duration == pytest.approx(10.0, abs=1e-3)
    first, middle, last = video.frames[0], video.frames[len(video.frames) // 2], video.frames[-1]
    assert shows(first, WARM) and not shows(first, COOL)
    assert shows(last, COOL) and not shows(last, WARM)
    assert not shows(middle, WARM) and not shows(middle, COOL)  # on its way between the two
    assert cuts(video.frames) == []  # a dissolve, not a cut


def test_a_15_s_multi_shot_portrait_video_cuts_between_its_shots(client: SpecCheckedClient, clock: ManualClock) -> None:
    body = {
        **VALID_BODY,
        "image": data_uri(quadrants((720, 1280), GREEN)),
        "duration": 15,
        "shot_type": "multi",
        "audio": False,
        "audio_url": "https://example.com/voice.mp3",  # overrides audio: false
    }
    video = rendered(client, clock, body)
    assert video.problems == []
    assert (video.width, video.height, video.codecs) == (1080, 1920, ("h264", "aac"))
    assert video.duration == pytest.approx(15.0, abs=1e-3)
    frames = len(video.frames)
    assert cuts(video.frames) == [frames // 3, 2 * frames // 3]
    assert shows(video.frames[0], GREEN) and shows(video.frames[-1], GREEN)
    assert not shows(video.frames[frames // 2], GREEN)  # the middle shot is a close-up
    assert "audio_url is never fetched" in video.comment


@pytest.mark.parametrize(
    ("fields", "shots"),
    [
        ({"multi_shots": "multi"}, 3),  # the prose's spelling
        ({"shot_type": "multi", "prompt_extend": False}, 1),  # "only takes effect when prompt_extend is enabled"
    ],
)
def test_the_shot_type_takes_effect_only_with_prompt_extend(
    client: SpecCheckedClient, clock: ManualClock, fields: dict[str, Any], shots: int
) -> None:
    square = quadrants((800, 800), WARM)
    video = rendered(client, clock, {**VALID_BODY, "image": data_uri(square), **fields})
    assert (video.width, video.height) == (1080, 1080)
    assert len(cuts(video.frames)) == shots - 1
    assert shows(video.frames[0], WARM)


def test_an_image_that_cannot_be_decoded_still_gets_a_video(make_client: ClientFactory, clock: ManualClock) -> None:
    """Only its header is checked here, so a PNG cut short is accepted: the video has a plain picture."""
    whole = io.BytesIO()
    quadrants((600, 900), COOL).effect_spread(40).save(whole, "PNG")  # portrait, and not flat: it compresses less
    cut_short = whole.getvalue()[: len(whole.getvalue()) // 2]
    client = make_client(Settings(image_checks="header"))
    body = {**VALID_BODY, "image": "data:image/png;base64," + base64.b64encode(cut_short).decode()}
    video = rendered(client, clock, body)
    assert video.problems == []
    assert (video.width, video.height) == (1920, 1080)  # the landscape frame of an image it could not read
    assert video.duration == pytest.approx(5.0, abs=1e-3)
    assert not shows(video.frames[0], COOL)
