"""Real images at the edges of every image rule the spec states in ``x-image-rules``, each case with the
``x-provenance`` label of its rule: a case whose side the docs do not state (a file cut short, raw
Base64, 10,485,760 bytes where "10MB" may mean 10,000,000) is undocumented, and a target that takes
the other side of it deviates, not violates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any

from contract_tests.images import data_uri, make_image, pad, raw_base64, truncate
from sparkspec.provenance import Provenance


@dataclass(frozen=True)
class ImageCase:
    """One image value: what it is, which rule it tests, whether the contract allows it, and whether the
    docs state that side of the rule (``documented``; see ``provenance`` for their words)."""

    label: str
    rule: str
    valid: bool
    build: Callable[[], str] = field(compare=False, repr=False)
    provenance: Provenance | None = field(default=None, compare=False, repr=False)
    documented: bool = field(default=True, compare=False)
    size: int | None = field(default=None, compare=False)  # the byte count, for the cases of the byte limit

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


def image_cases(rules: Mapping[str, Any], labels: Mapping[str, Provenance] | None = None) -> list[ImageCase]:
    """Edges of each rule: formats, both sides at and just past their limits, the byte limit under each
    reading of it, transparency, truncation, the two Base64 forms, and data that is not an image.

    ``labels`` are the ``x-provenance`` labels of ``rules``; without them every case counts as documented.
    """
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
    byte_limits = _readings(labels, "max-bytes", limit)
    over = max(byte_limits) + 1
    cases += [
        ImageCase("raw Base64 PNG", "raw-base64", True, partial(_raw, low)),
        ImageCase(
            "PNG with an opaque alpha channel", "alpha-channel", True, partial(_transparent, "opaque-alpha", low)
        ),
        *(
            ImageCase(f"PNG of exactly {size} bytes", "max-bytes", True, partial(_padded, high, size), size=size)
            for size in sorted({*byte_limits, limit})
        ),
        ImageCase(f"PNG of {over} bytes", "max-bytes", False, partial(_padded, high, over), size=over),
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
    return [_labelled(case, labels, byte_limits) for case in cases] if labels is not None else cases


def invalid_image_cases(cases: Mapping[str, list[ImageCase]]) -> list[tuple[str, ImageCase]]:
    """The invalid cases a run sends: all of them in the first image field, one per rule in the others."""
    chosen: list[tuple[str, ImageCase]] = []
    for number, (name, field_cases) in enumerate(cases.items()):
        rules: set[str] = set()
        for case in field_cases:
            if not case.valid and (number == 0 or case.rule not in rules):
                chosen.append((name, case))
                rules.add(case.rule)
    return chosen


def _readings(labels: Mapping[str, Provenance] | None, rule: str, contract: int) -> list[int]:
    """The values the readings of a disputed bound give it (just the contract's, for an undisputed one)."""
    label = (labels or {}).get(rule)
    values = [int(r.value) for r in label.readings if r.value is not None] if label is not None else []
    return values or [contract]


def _labelled(case: ImageCase, labels: Mapping[str, Provenance], byte_limits: list[int]) -> ImageCase:
    label = labels.get(case.rule)
    if label is None:
        raise ValueError(f"the spec gives the image rule {case.rule!r} no x-provenance label")
    documented = label.documented
    if case.size is not None:
        # Every reading takes what fits under the smallest limit, and refuses what passes the largest.
        documented = case.size <= min(byte_limits) if case.valid else case.size > max(byte_limits)
    return replace(case, provenance=label, documented=documented)
