"""Real images for tests: any documented format, any size, exact byte counts, transparency, damage.

Everything is generated with Pillow on demand, so no large file is committed and every edge
(359, 360, 2000, 2001 px; exactly 10 MB and one byte more) is produced exactly.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Literal

from PIL import Image

Transparency = Literal["alpha", "luminance-alpha", "palette", "colour-key", "opaque-alpha"]
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp", "GIF": "image/gif"}


def make_image(
    fmt: str = "PNG",
    width: int = 480,
    height: int = 360,
    *,
    transparency: Transparency | None = None,
    size: int | None = None,
) -> bytes:
    """Encode a small gradient as ``fmt`` at ``width`` x ``height``.

    Args:
        fmt: A Pillow format name: JPEG, PNG, BMP, WEBP, GIF, TIFF...
        width: Width in pixels.
        height: Height in pixels.
        transparency: For PNG, how to make it transparent: an alpha channel, a grey+alpha image, a
            palette with a transparent entry, or a colour key (tRNS chunk on an RGB image); each of
            them makes some pixels transparent. ``opaque-alpha`` adds an alpha channel in which every
            pixel is opaque.
        size: Pad the file to exactly this many bytes (PNG gets a private ancillary chunk, other
            formats trailing bytes that decoders ignore).
    """
    fmt = fmt.upper()
    image = _gradient(width, height, fmt)
    options: dict[str, object] = {}
    if transparency is not None:
        image, options = _transparent(image, transparency)
    elif fmt == "JPEG":
        options = {"quality": 85}
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    data = buffer.getvalue()
    if size is not None:
        data = pad(data, size, fmt)
    return data


def pad(data: bytes, size: int, fmt: str) -> bytes:
    """``data`` grown to exactly ``size`` bytes without changing the image it holds."""
    if fmt.upper() == "PNG":
        overhead = 12  # length, type and CRC of the padding chunk
        if size < len(data) + overhead:
            raise ValueError(f"a PNG of {len(data)} bytes cannot be padded to {size}")
        iend = data.rindex(b"IEND") - 4
        filler = b"\0" * (size - len(data) - overhead)
        chunk = struct.pack(">I", len(filler)) + b"prVt" + filler + struct.pack(">I", zlib.crc32(b"prVt" + filler))
        return data[:iend] + chunk + data[iend:]
    if fmt.upper() == "WEBP":
        raise ValueError("WEBP records its length; pad a PNG, JPEG or BMP instead")
    if size < len(data):
        raise ValueError(f"the image is already {len(data)} bytes, more than {size}")
    return data + b"\0" * (size - len(data))


def truncate(data: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` share of the file: a header that parses, and image data that stops short."""
    return data[: max(64, int(len(data) * keep))]


def with_png_dimensions(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (a decompression bomb when the size is absurd)."""
    if data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    ihdr = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return data[:16] + ihdr + crc + data[33:]


def data_uri(data: bytes, fmt: str = "PNG") -> str:
    """``data:image/<type>;base64,...``, the form the official clients send."""
    return f"data:{MIME.get(fmt.upper(), 'image/' + fmt.lower())};base64,{base64.b64encode(data).decode()}"


def raw_base64(data: bytes) -> str:
    """Plain Base64, without the data URI prefix."""
    return base64.b64encode(data).decode()


def _gradient(width: int, height: int, fmt: str) -> Image.Image:
    # A wide BMP at 2000x2000 in 24-bit colour is 12 MB, over the 10 MB limit: use 8-bit grey there.
    mode = "L" if fmt == "BMP" and width * height * 3 > 9_000_000 else "RGB"
    base = Image.linear_gradient("L").resize((width, height))
    return base if mode == "L" else Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_TOP_BOTTOM), base))


def _transparent(image: Image.Image, kind: Transparency) -> tuple[Image.Image, dict[str, object]]:
    rgb = image.convert("RGB")
    if kind in ("alpha", "opaque-alpha"):
        rgba = rgb.convert("RGBA")
        rgba.putalpha(255 if kind == "opaque-alpha" else 128)
        return rgba, {}
    if kind == "luminance-alpha":
        grey = rgb.convert("LA")
        grey.putalpha(128)
        return grey, {}
    # The key is the colour (or palette entry) of the first pixel, so that some pixels really are transparent.
    if kind == "palette":
        palette = rgb.convert("P")
        return palette, {"transparency": palette.getpixel((0, 0))}
    return rgb, {"transparency": rgb.getpixel((0, 0))}
