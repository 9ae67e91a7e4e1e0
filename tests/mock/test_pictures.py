"""The pictures a video starts from: any image the contract admits opens upright in RGB with its own
colours, in the frame nearest its shape; what does not open gives way to a plain picture."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from mockserver.pictures import LANDSCAPE, PORTRAIT, SQUARE, frame_size, open_image


def encoded(image: Image.Image, fmt: str, **options: object) -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("image", "fmt", "colour"),
    [
        (Image.new("RGB", (400, 400), (10, 200, 30)), "PNG", (10, 200, 30)),
        (Image.new("I;16", (400, 400), 40000), "PNG", (156, 156, 156)),  # 16-bit grey, scaled, not clipped
        (Image.new("CMYK", (400, 400), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
        (Image.new("RGBA", (400, 400), (255, 255, 255, 0)), "WEBP", (0, 0, 0)),  # transparent: over black
        (Image.new("P", (400, 400), 0), "BMP", (0, 0, 0)),
    ],
)
def test_images_open_in_rgb_with_their_colours(image: Image.Image, fmt: str, colour: tuple[int, int, int]) -> None:
    opened = open_image(encoded(image, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert opened is not None and opened.mode == "RGB"
    assert all(abs(a - b) <= 2 for a, b in zip(opened.getpixel((200, 200)), colour, strict=True))  # type: ignore[arg-type]


def test_a_data_uri_opens_like_raw_base64_and_rotated_photos_stand_up() -> None:
    photo = Image.new("RGB", (600, 400), (200, 10, 10))
    exif = photo.getexif()
    exif[0x0112] = 6  # the camera was turned: the picture is shown a quarter turn round
    raw = encoded(photo, "JPEG", exif=exif)
    upright = open_image("data:image/jpeg;base64," + raw)
    assert upright is not None and upright.size == (400, 600)
    assert open_image(raw) is not None and open_image(raw).size == (400, 600)  # type: ignore[union-attr]


@pytest.mark.parametrize("data", [None, "", "not base64 at all", base64.b64encode(b"GIF89a garbage").decode()])
def test_what_does_not_open_is_none(data: str | None) -> None:
    assert open_image(data) is None


@pytest.mark.parametrize(
    ("size", "frame"),
    [
        ((1920, 1080), LANDSCAPE),
        ((2000, 1500), LANDSCAPE),
        ((1500, 2000), PORTRAIT),
        ((1000, 1100), SQUARE),
        ((1100, 1000), SQUARE),
        ((720, 1280), PORTRAIT),
    ],
)
def test_the_frame_is_the_1080p_shape_nearest_the_image(size: tuple[int, int], frame: tuple[int, int]) -> None:
    assert frame_size(Image.new("RGB", size)) == frame
    assert frame_size(None) == LANDSCAPE
