"""The image rules, with real images made at the edges: every format, 359/360/2000/2001 px, 10 MB, transparency."""

from __future__ import annotations

import dataclasses
import io
from functools import cache
from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from PIL import Image

from contract_tests.images import data_uri, make_image, pad, raw_base64, truncate, with_png_dimensions
from mockserver.app import _spec_formats
from sparkspec.image_rules import PLAIN_URL, ImageRejected, ImageRules, check_image
from sparkspec.openapi import ApiSpec
from tests.helpers import VALID_BODY, SpecCheckedClient, create

FORMATS = ["JPEG", "PNG", "BMP", "WEBP"]
TEN_MB = 10 * 1024 * 1024
FIELDS = ["image", "last_frame"]


@cache
def image(fmt: str, width: int, height: int) -> bytes:
    return make_image(fmt, width, height)


def send(client: SpecCheckedClient, field: str, value: str) -> tuple[int, str]:
    response = create(client, {**VALID_BODY, field: value})
    detail = response.json().get("detail", "") if response.status_code != 202 else ""
    return response.status_code, detail


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("width", "height"), [(360, 360), (2000, 2000), (360, 2000), (2000, 360)])
def test_each_format_at_the_size_limits_is_accepted(
    client: SpecCheckedClient, field: str, fmt: str, width: int, height: int
) -> None:
    assert send(client, field, data_uri(image(fmt, width, height), fmt)) == (202, "")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("width", "height"), [(359, 400), (400, 359), (2001, 400), (400, 2001)])
def test_each_format_just_past_the_size_limits_is_rejected(
    client: SpecCheckedClient, field: str, fmt: str, width: int, height: int
) -> None:
    status, detail = send(client, field, data_uri(image(fmt, width, height), fmt))
    assert status == 400
    assert detail == f"{field}: is {width}x{height} px; both sides must be 360 to 2000 px"


TRANSPARENT = (400, "image: is a PNG with transparency, which is not supported")


def png(image: Image.Image, **options: Any) -> str:
    """``image`` as a PNG data URI; ``options`` go to Pillow (``transparency=`` writes a tRNS chunk)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return data_uri(buffer.getvalue())


def with_pixel(image: Image.Image, value: Any) -> Image.Image:
    image.putpixel((123, 45), value)
    return image


@pytest.mark.parametrize("kind", ["alpha", "luminance-alpha"])
def test_a_png_with_a_translucent_alpha_channel_is_rejected(client: SpecCheckedClient, kind: str) -> None:
    translucent = make_image("PNG", 400, 400, transparency=kind)  # type: ignore[arg-type]
    assert send(client, "image", data_uri(translucent)) == TRANSPARENT


@pytest.mark.parametrize(("mode", "colour"), [("RGBA", (10, 20, 30, 255)), ("LA", (90, 255))])
def test_an_opaque_alpha_channel_is_not_transparency(client: SpecCheckedClient, mode: str, colour: Any) -> None:
    """The docs forbid transparency, not the channel: many editors save opaque images as RGBA."""
    assert send(client, "image", png(Image.new(mode, (400, 400), colour))) == (202, "")


@pytest.mark.parametrize(
    ("mode", "opaque", "almost"), [("RGBA", (10, 20, 30, 255), (10, 20, 30, 254)), ("LA", (90, 255), (90, 254))]
)
def test_one_pixel_short_of_opaque_is_transparency(
    client: SpecCheckedClient, mode: str, opaque: Any, almost: Any
) -> None:
    assert send(client, "image", png(with_pixel(Image.new(mode, (400, 400), opaque), almost))) == TRANSPARENT


def palette_image(used: list[int]) -> Image.Image:
    """A palette image of three colours, showing only the entries ``used``."""
    image = Image.new("P", (400, 400), used[0])
    image.putpalette([200, 0, 0, 0, 200, 0, 0, 0, 200])
    for index in used[1:]:
        image.putpixel((7 * index, 11), index)
    return image


def test_a_palette_png_is_refused_only_when_a_pixel_shows_a_transparent_entry(client: SpecCheckedClient) -> None:
    assert send(client, "image", png(palette_image([1, 0]), transparency=0)) == TRANSPARENT
    assert send(client, "image", png(palette_image([1, 2]), transparency=0)) == (202, "")  # entry 0 unused
    # Partial alpha per entry (a tRNS table): an entry at 254 is transparency too, one at 255 is not.
    assert send(client, "image", png(palette_image([1, 2]), transparency=b"\x00\xfe")) == TRANSPARENT
    assert send(client, "image", png(palette_image([1, 2]), transparency=b"\x00\xff")) == (202, "")


@pytest.mark.parametrize(("mode", "colour", "key"), [("RGB", (10, 20, 30), (0, 0, 0)), ("L", 90, 0)])
def test_a_colour_key_is_refused_only_when_a_pixel_has_that_colour(
    client: SpecCheckedClient, mode: str, colour: Any, key: Any
) -> None:
    assert send(client, "image", png(Image.new(mode, (400, 400), colour), transparency=key)) == (202, "")
    keyed = with_pixel(Image.new(mode, (400, 400), colour), key)
    assert send(client, "image", png(keyed, transparency=key)) == TRANSPARENT


def noise_png(mode: str) -> bytes:
    """An opaque PNG that compresses badly, so that cutting its file short cuts its pixel data."""
    buffer = io.BytesIO()
    Image.effect_noise((800, 600), 64).convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_truncated_png_that_may_be_transparent_is_refused_as_truncated(client: SpecCheckedClient, mode: str) -> None:
    """Looking for a transparent pixel decodes the image, which finds the file cut short."""
    damaged = truncate(noise_png(mode))
    assert send(client, "image", data_uri(damaged)) == (400, "image: is a corrupt or truncated image")


def test_transparency_is_only_refused_for_png(client: SpecCheckedClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 400), (10, 20, 30, 100)).save(buffer, "WEBP")
    assert send(client, "image", data_uri(buffer.getvalue(), "WEBP")) == (202, "")


[EXTENSION] = [schema["x-image-rules"] for schema in ApiSpec.load().schemas_with_extension("x-image-rules").values()]
IMAGE_RULES = ImageRules.from_spec(EXTENSION)
HEADER_ONLY = dataclasses.replace(IMAGE_RULES, check_integrity=False)


def test_from_spec_checks_integrity_unless_told_not_to() -> None:
    extension = EXTENSION
    assert ImageRules.from_spec(extension).check_integrity is True
    assert ImageRules.from_spec(extension, check_integrity=False) == HEADER_ONLY


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_with_header_checks_only_a_truncated_image_passes(fmt: str) -> None:
    damaged = data_uri(truncate(image(fmt, 800, 600)), fmt)
    with pytest.raises(ImageRejected) as refused:
        check_image(damaged, IMAGE_RULES)
    assert refused.value.rule == "integrity"
    info = check_image(damaged, HEADER_ONLY)
    assert info is not None and (info.format, info.width, info.height) == (fmt, 800, 600)


def test_a_truncated_webp_is_refused_even_with_header_checks_only() -> None:
    """Pillow reads a WEBP through libwebp, which opens only a complete file: there is no header to judge."""
    damaged = data_uri(truncate(image("WEBP", 800, 600)), "WEBP")
    for rules in (IMAGE_RULES, HEADER_ONLY):
        with pytest.raises(ImageRejected) as refused:
            check_image(damaged, rules)
        assert refused.value.rule == "integrity"


def test_with_header_checks_only_a_truncated_png_that_may_be_transparent_passes() -> None:
    damaged = data_uri(truncate(noise_png("RGBA")))
    with pytest.raises(ImageRejected) as refused:
        check_image(damaged, IMAGE_RULES)
    assert refused.value.rule == "integrity"
    assert check_image(damaged, HEADER_ONLY) is not None


def test_with_header_checks_only_the_header_rules_still_hold() -> None:
    cases = {
        "min-side": data_uri(image("PNG", 359, 400)),
        "formats": data_uri(make_image("GIF", 400, 400), "GIF"),
        "png-transparency": data_uri(make_image("PNG", 400, 400, transparency="alpha")),
        "max-bytes": data_uri(pad(image("PNG", 400, 400), TEN_MB + 1, "PNG")),
    }
    for rule, value in cases.items():
        with pytest.raises(ImageRejected) as refused:
            check_image(value, HEADER_ONLY)
        assert refused.value.rule == rule


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_exactly_10_mb_is_accepted_and_one_byte_more_is_not(client: SpecCheckedClient, fmt: str) -> None:
    base = image(fmt, 2000, 2000)
    assert send(client, "image", data_uri(pad(base, TEN_MB, fmt), fmt)) == (202, "")
    status, detail = send(client, "image", data_uri(pad(base, TEN_MB + 1, fmt), fmt))
    assert (status, detail) == (400, f"image: is {TEN_MB + 1} bytes; the limit is {TEN_MB} bytes (10 MB)")


def test_far_over_10_mb_is_refused_before_decoding(client: SpecCheckedClient) -> None:
    status, detail = send(client, "image", "data:image/png;base64," + "A" * 20_000_000)
    assert status == 400 and detail.startswith("image: is 15000000 bytes")


def test_raw_base64_is_accepted_like_a_data_uri(client: SpecCheckedClient) -> None:
    for fmt in FORMATS:
        assert send(client, "image", raw_base64(image(fmt, 400, 400))) == (202, ""), fmt


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "ICO", "PPM"])
def test_other_formats_are_rejected(client: SpecCheckedClient, fmt: str) -> None:
    data = make_image(fmt, 400, 400) if fmt != "ICO" else make_image(fmt, 64, 64)
    status, detail = send(client, "image", data_uri(data, fmt))
    assert (status, detail) == (400, "image: is not a JPEG, PNG, BMP or WEBP image")


def test_the_bytes_decide_the_format_not_the_data_uri_label(client: SpecCheckedClient) -> None:
    assert send(client, "image", data_uri(image("JPEG", 400, 400), "PNG")) == (202, "")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_image_is_rejected(client: SpecCheckedClient, fmt: str) -> None:
    damaged = truncate(image(fmt, 800, 600))
    assert send(client, "image", data_uri(damaged, fmt)) == (400, "image: is a corrupt or truncated image")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("data:image/png;base64,!!!!", "image: holds data that is not valid Base64 (standard alphabet, with padding)"),
        ("data:image/png;base64,iVBORw0KGgo", "image: holds data that is not valid Base64"),
        ("data:image/png;base64,", "image: holds no data"),
        ("aGVsbG8gd29ybGQ=", "image: is not a JPEG, PNG, BMP or WEBP image"),
        ("hello world", "image: is not an http(s) URL, a data URI or valid raw Base64"),
        ("ftp://example.com/a.jpg", "image: is not an http(s) URL, a data URI or valid raw Base64"),
        ("data:text/plain;base64,aGVsbG8=", "image: must be a data URI of the form data:image/<type>;base64,<data>"),
        ("https://", "image: must be an http(s) URL with a host"),
        ("https://exa mple.com/a.png", "image: must be an http(s) URL with a host, without spaces"),
        ("", "image: must be at least 1 characters (got 0)"),
    ],
)
def test_bad_base64_data(client: SpecCheckedClient, value: str, detail: str) -> None:
    status, got = send(client, "image", value)
    assert status == 400
    assert got.startswith(detail) or detail in got, got


def test_absurd_dimensions_and_decompression_bombs(client: SpecCheckedClient) -> None:
    small = image("PNG", 400, 400)
    status, detail = send(client, "image", data_uri(with_png_dimensions(small, 5000, 5000)))
    assert (status, detail) == (400, "image: is 5000x5000 px; both sides must be 360 to 2000 px")
    status, detail = send(client, "image", data_uri(with_png_dimensions(small, 100_000, 100_000)))
    assert (status, detail) == (400, "image: is far larger than 2000 px")


def test_a_url_is_accepted_as_given(client: SpecCheckedClient) -> None:
    for url in ["https://example.com/does-not-exist.gif", "http://127.0.0.1:1/x", "HTTPS://EXAMPLE.COM/A.JPG"]:
        assert send(client, "image", url) == (202, ""), url


def test_both_images_are_checked_and_both_problems_reported(client: SpecCheckedClient) -> None:
    bad = data_uri(image("PNG", 359, 400))
    response = create(client, {**VALID_BODY, "image": bad, "last_frame": bad})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "image: is 359x400 px; both sides must be 360 to 2000 px; "
        "last_frame: is 359x400 px; both sides must be 360 to 2000 px"
    )


[IMAGE_FORMAT] = _spec_formats(ApiSpec.load()).values()  # the check the mock registers for the spec's image format


def _passes(value: str) -> bool:
    try:
        IMAGE_FORMAT.check(value)
    except ImageRejected:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(url=st.from_regex(PLAIN_URL, fullmatch=True))
def test_every_url_the_shortcut_lets_through_passes_the_image_check(url: str) -> None:
    """The fast validator takes a string that matches PLAIN_URL as an image without asking the check."""
    assert IMAGE_FORMAT.shortcut == PLAIN_URL
    assert _passes(url), url


def test_a_shortcut_wider_than_the_check_would_be_caught() -> None:
    """The property above can fail: a shortcut that admits spaces yields a URL the check refuses."""
    wider = r"https?://[A-Za-z0-9.-]+(?:/[ -~]*)?"
    assert not _passes(find(st.from_regex(wider, fullmatch=True), lambda url: not _passes(url)))
