"""The image rules that JSON Schema cannot express, checked by decoding the image.

This is the one place where the mock checks more than JSON Schema can say. It implements the
spec's ``image-url-or-base64`` format, which the contract adapter registers with openapi-core, so
that images are validated in the same pass as every other rule. The limits are not written here:
they are read from ``x-image-rules`` in the spec (:meth:`ImageRules.from_spec`).

An http(s) URL is accepted as given (the mock never fetches anything). Base64 data, as a data URI
or raw, is decoded and opened with Pillow, which reads only the header to learn the format and the
size. Whether the file is whole, short of decoding every pixel, is :mod:`sparkspec.image_integrity`'s
to say, at a cost bounded by the file's size. The ``image_checks="header"`` setting turns that test
off (:attr:`ImageRules.check_integrity`), so a file cut short after a sound header passes; except a
WEBP, which Pillow opens through libwebp, and libwebp only opens a complete file.

The docs say "PNG (no transparency)": what they forbid is a pixel that is not fully opaque, not an
alpha channel. So the header only says whether a PNG *may* be transparent (an alpha channel, or a
tRNS chunk: transparent palette entries or a colour key); only such a PNG is decoded, and it is
refused if one of its pixels has an alpha below 255. An opaque RGBA PNG, as many editors save,
passes. The decode also finds a file cut short (the ``integrity`` rule), unless only the header is
checked: then a PNG whose pixels cannot all be read is given the benefit of the doubt.
"""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pybase64
from PIL import Image, UnidentifiedImageError

from sparkspec.image_integrity import check_whole

URL_PREFIXES = ("http://", "https://")
_PILLOW_ALIASES = {"MPO": "JPEG"}  # Pillow calls multi-picture JPEGs (from many cameras) MPO


class ImageRejected(ValueError):
    """An image breaks a rule. ``rule`` names it; the message says how (the caller adds the field)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class ImageRules:
    """The documented image requirements, as the spec's ``x-image-rules`` states them.

    ``check_integrity`` is not a rule of the spec but the mock's reading of it (the
    ``image_checks`` setting): whether a Base64 image must be a complete file, or only its header
    is judged.
    """

    formats: tuple[str, ...]
    min_side: int
    max_side: int
    max_bytes: int
    png_transparency: bool
    max_url_length: int
    check_integrity: bool = True

    @classmethod
    def from_spec(cls, extension: Mapping[str, Any], *, check_integrity: bool = True) -> ImageRules:
        """The rules of an ``x-image-rules`` object; ``check_integrity`` as the settings say."""
        return cls(
            formats=tuple(str(f).upper() for f in extension["formats"]),
            min_side=int(extension["min-side"]),
            max_side=int(extension["max-side"]),
            max_bytes=int(extension["max-bytes"]),
            png_transparency=bool(extension["png-transparency"]),
            max_url_length=int(extension["max-url-length"]),
            check_integrity=check_integrity,
        )

    @property
    def format_names(self) -> str:
        return ", ".join(self.formats[:-1]) + f" or {self.formats[-1]}" if len(self.formats) > 1 else self.formats[0]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What was learnt from a Base64 image that passed."""

    format: str
    width: int
    height: int
    size: int


# Only valid image URLs match this whole: http(s), a host name of DNS labels, and at most 2,000
# printable ASCII characters without spaces after it (a longer URL is left to the check, which
# bounds it by the spec). The contract's fast validator tries it before calling check_image
# (FormatCheck.shortcut); tests/spec/test_image_rules.py holds every string it matches to passing
# check_image.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PLAIN_URL = rf"(?:https?|HTTPS?)://{_LABEL}(?:\.{_LABEL}){{0,8}}(?:[/?#][!-~]{{0,2000}})?"


def is_url(value: str) -> bool:
    return value[:8].lower().startswith(URL_PREFIXES)


def check_image(value: Any, rules: ImageRules) -> ImageInfo | None:
    """Check one image value. Returns ``None`` for a URL, what was read for Base64 data.

    Raises:
        ImageRejected: the value breaks one of the rules; the message says which.
    """
    if not isinstance(value, str):
        return None  # not this check's business: the schema's type keyword reports it
    if is_url(value):
        _check_url(value, rules.max_url_length)
        return None
    payload = _base64_payload(value)
    _check_encoded_size(payload, rules)
    try:
        data = pybase64.b64decode(payload, validate=True)
    except ValueError:  # binascii.Error is a ValueError; so is non-ASCII text
        raise ImageRejected("base64", _BAD_DATA_URI if _is_data_uri(value) else _NOT_BASE64) from None
    if not data:
        raise ImageRejected("base64", "holds no data")
    if len(data) > rules.max_bytes:
        raise ImageRejected("max-bytes", _too_big(len(data), rules))
    return _check_decoded(data, rules)


def is_valid_image(rules: ImageRules) -> Callable[[object], bool]:
    """The format check for a JSON Schema validator: ``True``, or :class:`ImageRejected` with the reason."""

    def check(value: object) -> bool:
        check_image(value, rules)
        return True

    return check


_NOT_BASE64 = "is not an http(s) URL, a data URI or valid raw Base64 (standard alphabet, with padding)"
_BAD_DATA_URI = "holds data that is not valid Base64 (standard alphabet, with padding)"


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# A host name: labels of letters, digits, hyphens (not at either end) and underscores (which some
# real hosts have), or of any non-ASCII letters (an internationalised name), dot-separated.
_ALNUM = "[A-Za-z0-9\u0080-\U0010ffff]"
_HOST_LABEL = rf"{_ALNUM}(?:[\w\u0080-\U0010ffff-]{{0,61}}{_ALNUM})?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


def _check_url(value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise ImageRejected("max-url-length", f"is a URL of {len(value)} characters; the limit is {max_length}")
    if _SPACE_OR_CONTROL.search(value) is not None:
        raise ImageRejected("url", "must be an http(s) URL with a host, without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ImageRejected("url-syntax", f"is not a URL that can be fetched ({str(exc)[:100]})") from None
    host = parts.hostname or ""
    if not host:
        raise ImageRejected("url", "must be an http(s) URL with a host, without spaces or control characters")
    if not (_is_ip_literal(host) if "[" in parts.netloc else _HOST_NAME.fullmatch(host)):
        raise ImageRejected("url-syntax", f"names a host that cannot exist: {host[:80]!r}")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


# The scheme and the type are case-insensitive (RFC 2397, RFC 2045); parameters may come before ;base64.
_DATA_URI_HEADER = re.compile(r"data:image/[a-z0-9][a-z0-9!#$&^_.+-]*(?:;[^;,=]+=[^;,]*)*;base64", re.IGNORECASE)


def _base64_payload(value: str) -> str:
    if not _is_data_uri(value):
        return value
    header, comma, payload = value.partition(",")
    if not comma or _DATA_URI_HEADER.fullmatch(header) is None:
        raise ImageRejected("data-uri", "must be a data URI of the form data:image/<type>;base64,<data>")
    return payload


def _is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def _check_encoded_size(payload: str, rules: ImageRules) -> None:
    # Refuse an oversized image before decoding it: every 4 Base64 characters carry 3 bytes.
    decoded = len(payload) * 3 // 4 - payload[-2:].count("=")
    if decoded > rules.max_bytes:
        raise ImageRejected("max-bytes", _too_big(decoded, rules))


def _too_big(size: int, rules: ImageRules) -> str:
    return f"is {size} bytes; the limit is {rules.max_bytes} bytes ({rules.max_bytes / 2**20:g} MB)"


def _check_decoded(data: bytes, rules: ImageRules) -> ImageInfo:
    try:
        with Image.open(io.BytesIO(data), formats=list(rules.formats)) as image:
            kind = _PILLOW_ALIASES.get(image.format or "", image.format or "")
            width, height = image.size
            _check_format(kind, rules)
            _check_sides(width, height, rules)
            # has_transparency_data is the header's "may be transparent"; only then are the pixels read.
            may_be_transparent = kind == "PNG" and not rules.png_transparency and image.has_transparency_data
            if may_be_transparent and _has_transparent_pixel(data, rules.check_integrity):
                raise ImageRejected("png-transparency", "is a PNG with transparency, which is not supported")
            if rules.check_integrity:
                check_whole(kind, data)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("formats", f"is not a {rules.format_names} image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("max-side", f"is far larger than {rules.max_side} px") from None
    except Exception:  # Pillow raises many types on hostile input; each one means a bad image
        raise ImageRejected("integrity", "is a corrupt or truncated image") from None
    return ImageInfo(kind, width, height, len(data))


def _check_format(kind: str, rules: ImageRules) -> None:
    if kind not in rules.formats:
        raise ImageRejected("formats", f"is {kind}, which is not supported ({rules.format_names})")


def _check_sides(width: int, height: int, rules: ImageRules) -> None:
    if not (rules.min_side <= width <= rules.max_side and rules.min_side <= height <= rules.max_side):
        raise ImageRejected(
            "min-side" if min(width, height) < rules.min_side else "max-side",
            f"is {width}x{height} px; both sides must be {rules.min_side} to {rules.max_side} px",
        )


_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})


def _has_transparent_pixel(data: bytes, strict: bool) -> bool:
    """Whether a PNG that may be transparent has a pixel whose alpha is below 255.

    Decodes the image. When the pixels cannot all be read (a file cut short), raise if ``strict``,
    else answer ``False``: with only the header checked, the image gets the benefit of the doubt.
    """
    try:
        # A second open, not the caller's image: verify() (the integrity check) must come right
        # after an open, and decoding would spend it.
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            # A palette with transparent entries, or a colour key: converting to RGBA applies either one.
            with_alpha = image if image.mode in _ALPHA_MODES else image.convert("RGBA")
            extrema = with_alpha.getchannel("A").getextrema()
    except Exception:  # Pillow raises many types on a truncated or corrupt file
        if strict:
            raise
        return False
    return extrema != (255, 255)  # the lowest and the highest alpha: fully opaque is both at 255
