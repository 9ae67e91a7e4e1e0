"""Whether a file is whole (sparkspec/image_integrity.py), for the forms the attack tests do not send."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from contract_tests.images import make_image
from sparkspec.image_integrity import check_whole

_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _interlaced_grey_png(width: int, height: int, short: int = 0) -> bytes:
    """An 8-bit grey Adam7 PNG, written by hand (Pillow writes no interlaced PNG); ``short`` bytes of
    its pixel data left out."""
    raw = b""
    for x0, y0, dx, dy in _ADAM7:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns and rows:
            raw += (b"\x00" + bytes(range(256)) * (columns // 256) + bytes(columns % 256)) * rows
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    pixels = zlib.compress(raw[: len(raw) - short])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def test_an_interlaced_png_is_whole_and_one_short_of_its_pixels_is_not() -> None:
    whole = _interlaced_grey_png(401, 367)
    Image.open(io.BytesIO(whole)).load()  # Pillow reads it: a sound file
    check_whole("PNG", whole)
    with pytest.raises(ValueError, match="inflates to"):
        check_whole("PNG", _interlaced_grey_png(401, 367, short=1))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_every_pixel_format_pillow_writes_is_whole(mode: str) -> None:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((401, 367)).convert(mode).save(out, "PNG")
    check_whole("PNG", out.getvalue())


def test_a_png_split_over_many_idat_chunks_is_whole() -> None:
    png = make_image("PNG", 400, 400)
    start = png.index(b"IDAT") - 4
    length = int.from_bytes(png[start : start + 4], "big")
    data = png[start + 8 : start + 8 + length]
    pieces = b"".join(_chunk(b"IDAT", data[i : i + 1000]) for i in range(0, len(data), 1000))
    check_whole("PNG", png[:start] + pieces + png[start + 12 + length :])


def test_a_webp_is_judged_by_its_container_as_the_spec_says() -> None:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((400, 400)).convert("RGB").save(out, "WEBP")
    webp = out.getvalue()
    check_whole("WEBP", webp[:30] + b"\x13" * (len(webp) - 30))  # the pixels are not decoded: it passes
    with pytest.raises(ValueError, match="RIFF"):
        check_whole("WEBP", webp[:-1])


@pytest.mark.parametrize("fmt", ["BMP", "JPEG", "PNG", "WEBP"])
def test_each_format_pillow_writes_is_whole(fmt: str) -> None:
    check_whole(fmt, make_image(fmt, 400, 400))


def test_of_a_large_png_only_the_first_2_mb_of_pixel_data_are_inflated_as_the_label_says() -> None:
    noise = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(noise, "PNG", compress_level=1)
    png = noise.getvalue()
    head, pixels, pos = png[:33], b"", 33  # the signature and IHDR, then the pixel data of every IDAT
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        if png[pos + 4 : pos + 8] == b"IDAT":
            pixels += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    assert len(pixels) > 3 * 2**20

    def with_pixels(data: bytes) -> bytes:
        return head + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")

    check_whole("PNG", with_pixels(pixels))
    check_whole("PNG", with_pixels(pixels[: 2**21] + b"garbage!" * 100_000))  # past the first 2 MB: its CRC vouches
    with pytest.raises(ValueError, match="zlib"):
        check_whole("PNG", with_pixels(b"garbage!" * 100_000 + pixels))
