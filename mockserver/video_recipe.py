"""What a request asks its video to be: the recipe a rendering is made from, and the key that names it.

A recipe holds what changes the picture or the sound (the length, the sound, the shots, the Base64
images), and nothing else: a prompt or a seed changes nothing the mock can show, so two requests that
differ only there share one rendering. The key says the cheap parts in words and the images as a
digest, so that a rendering dropped from the cache can still be made again at its length, with its
sound and shots (its images are not kept: see :func:`stand_in`).

Like the rest of the domain, this module knows no HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, get_args

from sparkspec.image_rules import is_url

Sound = Literal["silent", "tone", "url-tone"]
# A multi-shot video is cut into this many shots, whatever its length.
MULTI_SHOTS = 3
DIGEST_BYTES = 8
# The key of a rendering: "<seconds>s-<sound>-<shots>shot-<digest>"; its file is "<key>.mp4".
_URL_DIGEST = "u"


class Recipe(NamedTuple):
    """What one rendering is made from.

    Attributes:
        key: Names the rendering (and its file); equal keys, equal renderings.
        seconds: The requested duration.
        sound: ``silent`` (``audio`` false and no ``audio_url``), ``tone`` (the mock's own sound), or
            ``url-tone`` (an ``audio_url`` was sent; it is not fetched, so the mock's sound stands in).
        shots: 1, or :data:`MULTI_SHOTS` for a multi-shot request with ``prompt_extend`` on.
        image: The first frame as sent in Base64 (data URI or raw); ``None`` for a URL, never fetched.
        last_frame: The last frame in Base64; ``None`` when none was sent, or a URL.
        interpolates: Whether a ``last_frame`` was sent (as Base64 or as a URL).
        stand_in: Made again from the key alone: the images were not at hand.
    """

    key: str
    seconds: int
    sound: Sound
    shots: int
    image: str | None
    last_frame: str | None
    interpolates: bool
    stand_in: bool = False

    @property
    def input_bytes(self) -> int:
        """What the recipe holds in memory beyond its few small fields."""
        return len(self.image or "") + len(self.last_frame or "")


# Recipes whose images are URLs are few (lengths × sounds × shots × with or without a last frame)
# and every create would otherwise build one: each is made once and shared.
_URL_RECIPES: dict[tuple[int, Sound, int, bool], Recipe] = {}


def recipe_for(fields: Mapping[str, Any], shot_type: Any) -> Recipe:
    """The recipe of an accepted request: ``fields`` is its body with the spec's defaults, ``shot_type``
    the shot type in effect (``shot_type`` or ``multi_shots``, as the mock's settings read them).

    As documented: ``audio_url`` overrides ``audio``; the shot type only takes effect with
    ``prompt_extend`` on. Images given as URLs are never fetched, so they add nothing to the key.
    """
    image, last = fields["image"], fields.get("last_frame")
    if image.startswith(_PLAIN) and (last is None or last.startswith(_PLAIN)):  # most creates: asked once
        known = _BY_FIELDS.get(
            (
                fields["duration"],
                fields.get("audio"),
                fields.get("audio_url") is None,
                shot_type,
                fields.get("prompt_extend"),
                last is None,
            )
        )
        if known is not None:
            return known
    seconds = int(fields["duration"])
    audio_url = fields.get("audio_url")
    sound: Sound = "url-tone" if audio_url is not None else "silent" if fields.get("audio") is False else "tone"
    shots = MULTI_SHOTS if shot_type == "multi" and fields.get("prompt_extend") is True else 1
    image_b64 = None if is_url(image) else image
    last_b64 = None if last is None or is_url(last) else last
    if image_b64 is None and last_b64 is None:
        shared = (seconds, sound, shots, last is not None)
        recipe = _URL_RECIPES.get(shared)
        if recipe is None:
            key = _key(seconds, sound, shots, _URL_DIGEST if last is None else _URL_DIGEST * 2)
            recipe = _URL_RECIPES.setdefault(shared, Recipe(key, seconds, sound, shots, None, None, last is not None))
        if image.startswith(_PLAIN) and (last is None or last.startswith(_PLAIN)) and len(_BY_FIELDS) < _MAX_BY_FIELDS:
            fields_key = (
                fields["duration"],
                fields.get("audio"),
                audio_url is None,
                shot_type,
                fields.get("prompt_extend"),
                last is None,
            )
            _BY_FIELDS[fields_key] = recipe
        return recipe
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    digest.update(b"url" if image_b64 is None else image_b64.encode("utf-8", "surrogatepass"))
    digest.update(b"\n")
    if last is not None:  # else nothing: no last frame differs from a URL one
        digest.update(b"url" if last_b64 is None else last_b64.encode("utf-8", "surrogatepass"))
    key = _key(seconds, sound, shots, digest.hexdigest())
    return Recipe(key, seconds, sound, shots, image_b64, last_b64, last is not None)


# The same recipes by the fields they are read from, for images given as plain http(s) URLs: a create
# finds its recipe in one lookup. The fields' values are the schema's (few), but bounded all the same.
_BY_FIELDS: dict[tuple[Any, ...], Recipe] = {}
_MAX_BY_FIELDS = 256
_PLAIN = ("https://", "http://")


def stand_in(key: str) -> Recipe | None:
    """The recipe that the key alone gives: the length, sound and shots, with plain pictures for the
    images; ``None`` for a string that is not a key."""
    parts = key.split("-")
    if len(parts) < 4 or not (parts[0].endswith("s") and parts[0][:-1].isdigit() and parts[-2].endswith("shot")):
        return None
    sound, shots = "-".join(parts[1:-2]), parts[-2][: -len("shot")]
    if sound not in get_args(Sound) or not shots.isdigit():
        return None
    return Recipe(key, int(parts[0][:-1]), sound, int(shots), None, None, False, stand_in=True)  # type: ignore[arg-type]


def _key(seconds: int, sound: Sound, shots: int, digest: str) -> str:
    return f"{seconds}s-{sound}-{shots}shot-{digest}"
