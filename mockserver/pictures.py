"""The pictures a video is made of: the submitted images, read and fitted to the frame, or plain
pictures where an image cannot be had (a URL, which the mock never fetches, or data that does not open).

A picture is prepared once per rendering and per framing, a little larger than the frame
(:data:`MARGIN`), so that the camera's gentle movement is a moving crop: no frame is resampled.
Pictures are kept as YUV 4:2:0 planes in BT.709, what the encoder takes, so that a frame is a slice
(and, between two images, a weighted sum) of arrays.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import NamedTuple

import av
import numpy as np
import pybase64
from av.video.reformatter import Colorspace
from PIL import Image, ImageOps

from mockserver.video_recipe import Recipe

Size = tuple[int, int]
# 1080p in each orientation; an image gets the one nearest its aspect ratio.
LANDSCAPE, PORTRAIT, SQUARE = (1920, 1080), (1080, 1920), (1080, 1080)
# An image at most this much wider than tall (or taller than wide) is square.
SQUARE_WITHIN = 1.2
# Prepared pictures are this much larger than the frame on each axis: the room the camera moves in.
MARGIN = 0.08
# Whatever the header says, a picture larger than this is not decoded (a decompression bomb).
MAX_PIXELS = 4096 * 4096


class Planes(NamedTuple):
    """A picture as YUV 4:2:0: luma at full size, each chroma plane at half size on both axes."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


class Framing(NamedTuple):
    """Where a shot's camera looks: how far it zooms in, on which point of the picture (fractions of
    its width and height), and which way it drifts (a unit step on each axis)."""

    zoom: float
    centre: tuple[float, float]
    drift: tuple[int, int]


def open_image(data: str | None) -> Image.Image | None:
    """The image in Base64 ``data`` (a data URI or raw), upright and in RGB; ``None`` when there is no
    data or it does not open (a rendering never fails for its input: a plain picture stands in)."""
    if data is None:
        return None
    if data[:5].lower() == "data:":
        data = data.partition(",")[2]
    try:
        with Image.open(io.BytesIO(pybase64.b64decode(data))) as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            upright = ImageOps.exif_transpose(image)
            if upright.mode.startswith("I"):  # 16-bit grey: Pillow would clip it to white, not scale it
                upright = upright.convert("I").point(lambda value: value / 256).convert("L")
            # Transparent pixels (a WEBP or BMP may have them) go over black, as a player would show them.
            if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
                rgba = upright.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            return upright.convert("RGB")
    except Exception:  # whatever does not open (Pillow raises many kinds): the plain picture stands in
        return None


def frame_size(image: Image.Image | None) -> Size:
    """The frame for a first frame: 1080p in the image's orientation (square within :data:`SQUARE_WITHIN`);
    landscape without one. A 4:3 photo is landscape, as a camera held level takes it."""
    if image is None:
        return LANDSCAPE
    ratio = image.width / image.height
    if ratio > SQUARE_WITHIN:
        return LANDSCAPE
    return PORTRAIT if ratio < 1 / SQUARE_WITHIN else SQUARE


def prepared_size(frame: Size) -> Size:
    """The size of a prepared picture for ``frame``: the margin added, in multiples of 4 (the chroma
    planes are half the size, and PyAV's packed yuv420p array needs a quarter of the height in rows)."""
    width, height = (4 * math.ceil(side * (1 + MARGIN) / 4) for side in frame)
    return width, height


def fitted(image: Image.Image, frame: Size, framing: Framing) -> Planes:
    """``image`` scaled to cover the prepared picture (cropped in the middle, as a frame of another
    aspect must be), zoomed in as ``framing`` says, in YUV 4:2:0."""
    width, height = prepared_size(frame)
    cover = max(width / image.width, height / image.height) * framing.zoom
    box_w, box_h = width / cover, height / cover
    cx = min(max(framing.centre[0] * image.width, box_w / 2), image.width - box_w / 2)
    cy = min(max(framing.centre[1] * image.height, box_h / 2), image.height - box_h / 2)
    box = (cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2)
    scaled = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR, box=box))
    yuv = av.VideoFrame.from_ndarray(scaled, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=Colorspace.ITU709
    )
    # PyAV's yuv420p array: the luma rows, then each chroma plane (half the size both ways), packed.
    packed = yuv.to_ndarray()
    quarter = height // 4
    return Planes(
        packed[:height],
        packed[height : height + quarter].reshape(height // 2, width // 2),
        packed[height + quarter :].reshape(height // 2, width // 2),
    )


def plain_picture(variant: int) -> Image.Image:
    """A made-up picture that stands in for an image the mock cannot read: a calm gradient with a few
    discs, which shows movement and cuts. ``variant`` 1 is another palette (a last frame's)."""
    return _plain(variant % 2)


@lru_cache(maxsize=2)
def _plain(variant: int) -> Image.Image:
    width, height = 1280, 720
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    palettes = (((30, 60, 110), (210, 150, 90)), ((120, 40, 70), (90, 190, 170)))
    start, end = (np.array(c, dtype=np.float32) for c in palettes[variant])
    mix = ((xs / width + ys / height) / 2)[..., None]
    rgb = start * (1 - mix) + end * mix
    for cx, cy, radius, colour in ((0.3, 0.4, 0.12, (245, 235, 210)), (0.7, 0.65, 0.08, (250, 200, 120))):
        disc = (xs - cx * width) ** 2 + (ys - cy * height) ** 2 < (radius * width) ** 2
        rgb[disc] = colour
    rgb[(xs.astype(np.int32) // 80 + ys.astype(np.int32) // 80) % 2 == 0] *= 0.92  # a faint grid: texture
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def pictures(recipe: Recipe) -> tuple[Image.Image, Image.Image | None, Size]:
    """The first picture, the last (``None`` without interpolation), and the frame size, for ``recipe``."""
    first = open_image(recipe.image)
    size = frame_size(first)
    last = None
    if recipe.interpolates:
        last = open_image(recipe.last_frame) or plain_picture(1)
    return first or plain_picture(0), last, size
