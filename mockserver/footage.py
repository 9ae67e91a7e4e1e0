"""A rendering: the video a recipe describes, encoded by FFmpeg (through PyAV) into an MP4 file.

The mock has no model: what it renders stands in for one, from what the request says. The first
frame is the submitted image, and the camera drifts gently over it; with a last frame, the picture
dissolves into it and the video ends on it; a multi-shot video cuts between framings (wide, close,
wide); the sound is the mock's own chord, one per shot, or none at all for a silent video. The
length is the requested duration to the frame, and the sound's to the sample.

H.264 (x264 at its fastest preset: a stand-in is rendered in about the time a client takes to ask
for it) in an MP4 whose index is at the front, so that a player can start before the download ends;
BT.709 colours, tagged, as players assume for HD; AAC sound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from mockserver.pictures import Framing, Planes, Size, fitted, pictures, prepared_size
from mockserver.video_recipe import Recipe

# A low frame rate keeps a 1080p rendering fast (x264 spends most of it); players take any.
FPS = 8
SAMPLE_RATE = 48_000
AUDIO_FRAME = 1024  # samples per AAC frame
# Wide, close, wide again: the last shot ends on the whole picture (a last frame, when there is one).
FRAMINGS = (
    Framing(1.0, (0.5, 0.5), (1, 0)),
    Framing(1.8, (0.38, 0.42), (0, 1)),
    Framing(1.0, (0.5, 0.5), (-1, 1)),
)
CHORD_ROOTS = (220.0, 196.0, 246.9)  # A, G, B: each shot its own chord
LOUDNESS = 0.05
FADE_SECONDS = 0.03  # at each cut, so that the sound does not click
X264: dict[str, object] = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26"}
ENCODER_THREADS = 2
BT709 = 1  # the value of BT.709 in each of FFmpeg's colour enumerations
# A shot this long sways across the whole margin; a shorter one less, so that the camera never hurries.
FULL_SWAY_SECONDS = 5.0


def render(recipe: Recipe, path: Path) -> Size:
    """Write the video of ``recipe`` to ``path`` (an MP4); returns its frame size.

    Never fails for its input: an image that cannot be read is replaced by a plain picture.
    """
    first, last, size = pictures(recipe)
    width, height = size
    shots = FRAMINGS[: max(1, min(recipe.shots, len(FRAMINGS)))]
    frames = recipe.seconds * FPS
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        container.metadata["comment"] = _comment(recipe)
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = dict(X264)
        context = video.codec_context
        context.gop_size = 2 * FPS  # a key frame every 2 s: players can seek
        context.thread_count = ENCODER_THREADS
        context.colorspace = context.color_primaries = context.color_trc = BT709
        audio = None
        if recipe.sound != "silent":
            audio = container.add_stream("aac", rate=SAMPLE_RATE)
            audio.layout = "mono"
            audio.options = {"aac_coder": "fast"}  # the default coder takes four times as long
        for index, planes in enumerate(_frames(first, last, size, shots, frames)):
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            _sound(container, audio, recipe.seconds, len(shots))
    return size


def shot_starts(seconds: int, shots: int) -> list[int]:
    """The first frame of each shot of a video of ``seconds`` cut into ``shots``."""
    frames = seconds * FPS
    return [frames * shot // shots for shot in range(shots)]


def _frames(
    first: Image.Image, last: Image.Image | None, size: Size, shots: tuple[Framing, ...], frames: int
) -> Iterator[np.ndarray]:
    """Each frame as one array: the luma rows, then the two chroma planes, as PyAV's yuv420p takes it."""
    width, height = size
    pad_w, pad_h = (p - s for p, s in zip(prepared_size(size), size, strict=True))
    out = np.empty((height * 3 // 2, width), dtype=np.uint8)
    luma, chroma = out[:height], out[height:].reshape(2, height // 2, width // 2)
    prepared: dict[Framing, tuple[Planes, Planes | None]] = {}
    starts = [*shot_starts(frames // FPS, len(shots)), frames]
    for shot, framing in enumerate(shots):
        if framing not in prepared:
            prepared[framing] = (fitted(first, size, framing), None if last is None else fitted(last, size, framing))
        begin, end = starts[shot], starts[shot + 1]
        start_planes, end_planes = prepared[framing]
        reach = min(1.0, (end - begin) / FPS / FULL_SWAY_SECONDS)
        for index in range(begin, end):
            # Out and back: the shot starts and ends with the picture in the middle of the frame.
            sway = reach * math.sin(math.pi * (index - begin) / max(1, end - begin - 1))
            x = 2 * round((pad_w / 2 + framing.drift[0] * sway * pad_w / 2) / 2)
            y = 2 * round((pad_h / 2 + framing.drift[1] * sway * pad_h / 2) / 2)
            x, y = min(max(x, 0), pad_w), min(max(y, 0), pad_h)
            weight = _ease(index / max(1, frames - 1))
            for target, source, other, scale in (
                (luma, start_planes.y, None if end_planes is None else end_planes.y, 1),
                (chroma[0], start_planes.u, None if end_planes is None else end_planes.u, 2),
                (chroma[1], start_planes.v, None if end_planes is None else end_planes.v, 2),
            ):
                rows, cols = target.shape
                window = (slice(y // scale, y // scale + rows), slice(x // scale, x // scale + cols))
                if other is None or weight == 0:
                    target[...] = source[window]
                else:
                    _mix(target, source[window], other[window], weight)
            yield out


def _ease(t: float) -> float:
    """From 0 to 1 as ``t`` goes from 0 to 1, slowly at both ends."""
    return t * t * (3 - 2 * t)


def _mix(target: np.ndarray, a: np.ndarray, b: np.ndarray, weight: float) -> None:
    w = round(weight * 256)
    mixed = a.astype(np.uint16) * (256 - w)
    mixed += b.astype(np.uint16) * w
    np.right_shift(mixed, 8, out=mixed)
    target[...] = mixed


def _sound(container: av.container.OutputContainer, audio: av.AudioStream, seconds: int, shots: int) -> None:
    """The mock's own sound: a soft chord per shot, faded at each cut; exactly ``seconds`` long."""
    total = seconds * SAMPLE_RATE
    t = np.arange(total, dtype=np.float64) / SAMPLE_RATE
    wave = np.zeros(total, dtype=np.float64)
    fade = int(FADE_SECONDS * SAMPLE_RATE)
    for shot in range(shots):
        begin, end = total * shot // shots, total * (shot + 1) // shots
        root = CHORD_ROOTS[shot % len(CHORD_ROOTS)]
        span = t[begin:end]
        chord = sum(np.sin(2 * math.pi * root * ratio * span) for ratio in (1.0, 1.25, 1.5))
        envelope = np.minimum(1.0, np.minimum(np.arange(end - begin) + 1, np.arange(end - begin, 0, -1)) / fade)
        wave[begin:end] = LOUDNESS * chord * envelope
    samples = wave.astype(np.float32)
    for start in range(0, total, AUDIO_FRAME):
        chunk = samples[start : start + AUDIO_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
        container.mux(audio.encode(frame))
    container.mux(audio.encode(None))


def _comment(recipe: Recipe) -> str:
    """What the file says about itself: that it stands in for a model's video, and what it could not use."""
    parts = ["Rendered by spark-mock, a stand-in for the model's video (no generated content)."]
    if recipe.stand_in:
        parts.append("Made again from the task's key: its images were no longer at hand, plain pictures stand in.")
    elif recipe.image is None:
        parts.append("The first frame was a URL, which the mock never fetches: a plain picture stands in.")
    if recipe.interpolates and recipe.last_frame is None and not recipe.stand_in:
        parts.append("The last frame was a URL, never fetched: a plain picture stands in.")
    if recipe.sound == "url-tone":
        parts.append("audio_url is never fetched: the sound is the mock's own.")
    return " ".join(parts)
