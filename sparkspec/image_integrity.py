"""Whether an image file is whole: the ``integrity`` rule of :mod:`sparkspec.image_rules`.

Decoding every pixel would settle it, at a cost that grows with the picture, not the file: a 12 KB
run-length BMP of 2000 x 2000 took half a second of Pillow's Python decoder, and a WEBP of a few
hundred bytes can hold four million pixels. So each format gets a test whose cost is bounded by the
file's size (the work of a PNG's inflate by its header's size), all in C but for a walk over the
file's segments:

- **PNG**: chunks from IHDR to IEND, each CRC right, and the IDAT data inflates to exactly as many
  bytes as the header's size and pixel format need (empty, garbage or inflating past that: refused).
  Only its first 2 MB (compressed) are inflated: of a larger PNG, a zlib stream that begins well and
  does not inflate past the header's need, and the CRCs of every chunk, are what is checked.
- **JPEG**: segments by their lengths from SOI (so an EXIF thumbnail's own end marker is skipped), a
  scan header, scan data, and the end-of-image marker after the last scan.
- **BMP**: the pixel array as long as the header says; a run-length one ends with its end-of-bitmap code.
- **WEBP**: the RIFF container as long as it says, its chunks within it, and an image chunk among
  them. The compressed pixels inside are not decoded: a WEBP whose container is whole passes (the
  spec labels it).

Each raises :class:`ValueError` saying what is missing.
"""

from __future__ import annotations

import re
import struct
import zlib

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Channels of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7's passes: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20  # inflated in pieces this large, each dropped once counted
_INFLATE_PIECE = 1 << 16  # fed to the inflater in pieces this large
# Compressed pixel data inflated at most: 2 MB of noise-like pixels take about 10 ms (a 10 MB PNG's
# whole pixel data took 50 ms, over the budget of a check). Past it, the chunks' CRCs vouch for the rest.
_INFLATE_BUDGET = 2 * 1024 * 1024

# In a JPEG's scan data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; anything else
# (but fill bytes) begins a marker.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_SOS, _EOI = 0xDA, 0xD9

_BMP_RLE = frozenset({1, 2})  # BI_RLE8, BI_RLE4
_WEBP_IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ANMF"})


def check_whole(kind: str, data: bytes) -> None:
    """Raise :class:`ValueError` if the file of format ``kind`` (Pillow's name) ends before its image does."""
    if kind == "PNG":
        _check_png(data)
    elif kind == "JPEG":
        _check_jpeg(data)
    elif kind == "BMP":
        _check_bmp(data)
    elif kind == "WEBP":
        _check_webp(data)


def _check_png(data: bytes) -> None:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG signature")
    view = memoryview(data)  # chunks are read in place: a 10 MB IDAT is never copied
    inflater = zlib.decompressobj()
    expected = inflated = fed = 0
    pos, seen_idat = len(_PNG_SIGNATURE), False
    while True:
        if pos + 12 > len(data):
            raise ValueError("ends before IEND")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"ends inside a {kind!r} chunk")
        if zlib.crc32(view[pos + 4 : end - 4]) != int.from_bytes(view[end - 4 : end], "big"):
            raise ValueError(f"the CRC of a {kind!r} chunk is wrong")
        if pos == len(_PNG_SIGNATURE):
            if kind != b"IHDR" or length != 13:
                raise ValueError("does not begin with IHDR")
            expected = _png_raw_size(data[pos + 8 : end - 4])
        elif kind == b"IDAT":
            seen_idat = True
            budget = _INFLATE_BUDGET - fed
            if budget > 0:
                inflated += _inflate(inflater, view[pos + 8 : min(end - 4, pos + 8 + budget)], expected - inflated)
            fed += length
        elif kind == b"IEND":
            break
        pos = end
    whole = fed <= _INFLATE_BUDGET  # all of it inflated: it must come to exactly what the header needs
    if not seen_idat or not inflated or (whole and (not inflater.eof or inflated != expected)):
        raise ValueError(f"its pixel data inflates to {inflated} bytes, not the {expected} its header needs")


def _png_raw_size(header: bytes) -> int:
    """The bytes a PNG's pixel data inflates to, from its IHDR: a filter byte and the pixels of each row."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if colour not in _PNG_CHANNELS:
        raise ValueError(f"unknown colour type {colour}")
    bits = depth * _PNG_CHANNELS[colour]

    def rows(columns: int, count: int) -> int:
        return count * (1 + (columns * bits + 7) // 8) if columns and count else 0

    if not interlace:
        return rows(width, height)
    return sum(rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7)


def _inflate(inflater: zlib._Decompress, data: memoryview, room: int) -> int:
    """Feed ``data`` to the inflater; the bytes it gave. Stops past ``room`` more: a bomb is never inflated whole.

    The data goes in by pieces, so that what the inflater leaves over at each step (a copy) stays small.
    """
    given = 0
    for start in range(0, len(data), _INFLATE_PIECE):
        piece: bytes | memoryview = data[start : start + _INFLATE_PIECE]
        while piece and not inflater.eof:
            try:
                given += len(inflater.decompress(piece, _INFLATE_STEP))
            except zlib.error as exc:
                raise ValueError(f"its pixel data is not a zlib stream ({exc})") from None
            if given > room:
                raise ValueError("its pixel data inflates past what its header needs")
            piece = inflater.unconsumed_tail
    return given


def _check_jpeg(data: bytes) -> None:
    pos, scans = 2, 0  # after SOI, which Pillow has read
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise ValueError("ends, or loses its markers, before the end-of-image marker")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        marker = data[pos + 1] if pos + 1 < len(data) else -1
        if marker == _EOI:
            if not scans:
                raise ValueError("has no scan")
            return
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise ValueError("ends inside a segment header")
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker != _SOS:
            pos = end
            continue
        found = _JPEG_MARKER.search(data, end)  # the scan data runs to the next marker
        if found is None or found.start() == end:
            raise ValueError("has a scan header without scan data, or is cut inside its scan")
        scans += 1
        pos = found.start()


def _check_bmp(data: bytes) -> None:
    offset = int.from_bytes(data[10:14], "little")
    header_size = int.from_bytes(data[14:18], "little")
    compression = int.from_bytes(data[30:34], "little") if header_size >= 40 else 0
    if compression in _BMP_RLE:
        size = int.from_bytes(data[34:38], "little") or len(data) - offset
        stream = data[offset : offset + size]
        if len(stream) != size or not stream.endswith(b"\x00\x01"):
            raise ValueError("its run-length pixel data ends before the end-of-bitmap code")
        return
    if header_size < 40:
        width, height, bits = struct.unpack_from("<HHxxH", data, 18)
    else:
        width, height, _, bits = struct.unpack_from("<iiHH", data, 18)
        if compression not in (0, 3, 6):  # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS: no compression
            raise ValueError(f"compression {compression} is not read")
    stride = (abs(width) * bits + 31) // 32 * 4  # rows are padded to four bytes
    if len(data) < offset + stride * abs(height):
        raise ValueError("ends before its pixel array does")


def _check_webp(data: bytes) -> None:
    end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < end or data[8:12] != b"WEBP":
        raise ValueError("shorter than its RIFF header says")
    pos, images = 12, 0
    while pos + 8 <= end:
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
        if pos > end + (size & 1):
            raise ValueError(f"its {kind!r} chunk runs past the file")
        images += kind in _WEBP_IMAGE_CHUNKS and size > 0
    if not images:
        raise ValueError("holds no image chunk")
