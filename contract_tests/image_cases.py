"""Real images at the edges of every image rule the spec states in ``x-image-rules``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from contract_tests.images import data_uri, make_image, pad, raw_base64, truncate


@dataclass(frozen=True)
class ImageCase:
    """One image value: what it is, which rule it tests, and whether the contract allows it."""

    label: str
    rule: str
    valid: bool
    build: Callable[[], str] = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.label.replace(" ", "-")


@lru_cache(maxsize=32)
def _image(fmt: str, width: int, height: int, size: int | None = None) -> bytes:
    return make_image(fmt, width, height, size=size)


def _uri(fmt: str, width: int, height: int) -> str:
    return data_uri(_image(fmt, width, height), fmt)


def _truncated(fmt: str) -> str:
    return data_uri(truncate(_image(fmt, 800, 600)), fmt)


def _padded(side: int, size: int) -> str:
    return data_uri(pad(_image("PNG", side, side), size, "PNG"))


def _transparent(kind: Any, side: int) -> str:
    return data_uri(make_image("PNG", side, side, transparency=kind))


def _raw(side: int) -> str:
    return raw_base64(_image("PNG", side, side))


def _constant(value: str) -> str:
    return value


def image_cases(rules: Mapping[str, Any]) -> list[ImageCase]:
    """Edges of each rule: formats, both sides at and just past their limits, the byte limit, transparency,
    truncation, the two Base64 forms, and data that is not an image."""
    formats = [str(f) for f in rules["formats"]]
    low, high, limit = int(rules["min-side"]), int(rules["max-side"]), int(rules["max-bytes"])
    cases: list[ImageCase] = []
    for fmt in formats:
        cases += [
            ImageCase(f"{fmt} {low}x{low}", "min-side", True, partial(_uri, fmt, low, low)),
            ImageCase(f"{fmt} {high}x{high}", "max-side", True, partial(_uri, fmt, high, high)),
            ImageCase(f"{fmt} {low - 1}x{low}", "min-side", False, partial(_uri, fmt, low - 1, low)),
            ImageCase(f"{fmt} {low}x{low - 1}", "min-side", False, partial(_uri, fmt, low, low - 1)),
            ImageCase(f"{fmt} {high + 1}x{low}", "max-side", False, partial(_uri, fmt, high + 1, low)),
            ImageCase(f"{fmt} {low}x{high + 1}", "max-side", False, partial(_uri, fmt, low, high + 1)),
            ImageCase(f"{fmt} truncated", "integrity", False, partial(_truncated, fmt)),
        ]
    cases += [
        ImageCase("raw Base64 PNG", "base64", True, partial(_raw, low)),
        ImageCase(f"PNG of exactly {limit} bytes", "max-bytes", True, partial(_padded, high, limit)),
        ImageCase(f"PNG of {limit + 1} bytes", "max-bytes", False, partial(_padded, high, limit + 1)),
        ImageCase("GIF", "formats", False, partial(_uri, "GIF", low, low)),
        ImageCase("TIFF", "formats", False, partial(_uri, "TIFF", low, low)),
        ImageCase("data URI with invalid Base64", "base64", False, partial(_constant, "data:image/png;base64,!!!!")),
        ImageCase("Base64 of text", "formats", False, partial(_constant, raw_base64(b"not an image at all"))),
    ]
    if not rules.get("png-transparency", True):
        for kind in ("alpha", "luminance-alpha", "palette", "colour-key"):
            cases.append(
                ImageCase(
                    f"PNG with transparency ({kind})", "png-transparency", False, partial(_transparent, kind, low)
                )
            )
    return cases
