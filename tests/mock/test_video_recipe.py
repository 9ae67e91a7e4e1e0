"""What a request's video is made from: only the fields that change what can be seen or heard, read as
the docs say (``audio_url`` overrides ``audio``; the shot type needs ``prompt_extend``)."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.video_recipe import MULTI_SHOTS, recipe_for, stand_in
from tests.helpers import VALID_BODY
from tests.video_probe import data_uri, quadrants

FIELDS: dict[str, Any] = {**VALID_BODY, "duration": 5, "prompt_extend": True, "audio": True}
IMAGE = data_uri(quadrants((400, 400), ((1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12))))


@pytest.mark.parametrize(
    ("fields", "sound"),
    [
        ({}, "tone"),
        ({"audio": None}, "tone"),  # null is not false: the default, sound
        ({"audio": False}, "silent"),
        ({"audio": False, "audio_url": "https://example.com/a.wav"}, "url-tone"),
        ({"audio": True, "audio_url": "https://example.com/a.wav"}, "url-tone"),
    ],
)
def test_the_sound(fields: dict[str, Any], sound: str) -> None:
    assert recipe_for({**FIELDS, **fields}, "single").sound == sound


@pytest.mark.parametrize(
    ("shot_type", "prompt_extend", "shots"),
    [("multi", True, MULTI_SHOTS), ("multi", False, 1), ("single", True, 1), (None, True, 1)],
)
def test_the_shots(shot_type: str | None, prompt_extend: bool, shots: int) -> None:
    assert recipe_for({**FIELDS, "prompt_extend": prompt_extend}, shot_type).shots == shots


def test_requests_that_differ_in_nothing_visible_share_a_recipe() -> None:
    base = recipe_for(FIELDS, "single")
    same = recipe_for({**FIELDS, "prompt": "other", "seed": 3, "image": "https://example.org/b.png"}, None)
    assert same is base  # made once: URL images are never fetched, so they cannot differ
    assert (base.image, base.last_frame, base.interpolates) == (None, None, False)
    keys = {
        base.key,
        recipe_for({**FIELDS, "duration": 10}, "single").key,
        recipe_for({**FIELDS, "image": IMAGE}, "single").key,
        recipe_for({**FIELDS, "last_frame": "https://example.com/z.png"}, "single").key,
        recipe_for({**FIELDS, "last_frame": IMAGE}, "single").key,
        recipe_for({**FIELDS, "image": IMAGE, "last_frame": IMAGE}, "single").key,
    }
    assert len(keys) == 6
    with_images = recipe_for({**FIELDS, "image": IMAGE, "last_frame": IMAGE}, "single")
    assert (with_images.image, with_images.last_frame, with_images.input_bytes) == (IMAGE, IMAGE, 2 * len(IMAGE))


def test_a_key_alone_gives_the_length_the_sound_and_the_shots() -> None:
    recipe = recipe_for({**FIELDS, "duration": 15, "audio": False, "image": IMAGE, "last_frame": IMAGE}, "multi")
    again = stand_in(recipe.key)
    assert again is not None and again.stand_in
    assert (again.key, again.seconds, again.sound, again.shots) == (recipe.key, 15, "silent", MULTI_SHOTS)
    assert (again.image, again.last_frame) == (None, None)
    for garbage in ("", "x", "5s-loud-1shot-u", "5s-tone-manyshot-u", "five-tone-1shot-u"):
        assert stand_in(garbage) is None
