"""Hypothesis strategies for this contract: real images, URLs, and text of an exact length."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from contract_tests.images import data_uri, make_image
from contract_tests.images import raw_base64 as _raw


def texts(length: int, *, multibyte_only: bool = False) -> st.SearchStrategy[str]:
    """Text of exactly ``length`` characters (code points), as JSON Schema counts them."""
    # Within the Basic Multilingual Plane, where every way of counting (code points, UTF-16 units) agrees.
    alphabet = st.characters(
        codec="utf-8",
        min_codepoint=0x80 if multibyte_only else 0x20,
        max_codepoint=0xFFFF,
        exclude_categories=("Cs", "Cc"),
    )
    return st.text(alphabet=alphabet, min_size=length, max_size=length)


def urls(extension: str = "jpg") -> st.SearchStrategy[str]:
    """Public http(s) URLs that a client could send."""
    host = st.from_regex(r"[a-z](?:[a-z0-9-]{0,20}[a-z0-9])?\.(com|net|org|example)", fullmatch=True)
    path = st.from_regex(r"[a-zA-Z0-9_-]{1,30}(/[a-zA-Z0-9_-]{1,30}){0,2}", fullmatch=True)
    scheme = st.sampled_from(["https", "http"])
    return st.builds(lambda s, h, p: f"{s}://{h}/{p}.{extension}", scheme, host, path)


def image_values(rules: Mapping[str, Any], *, raw_base64: bool = True) -> st.SearchStrategy[str]:
    """Values of the spec's ``image-url-or-base64`` format: a URL, a data URI, or (with ``raw_base64``)
    raw Base64 of a real image.

    The images come from a small pool encoded once: Schemathesis draws thousands of values while it
    collects, and encoding an image for each would take minutes.
    """
    pool = _pool(tuple(rules["formats"]), int(rules["min-side"]), int(rules["max-side"]))
    as_data_uri = st.sampled_from([data_uri(data, fmt) for fmt, data in pool])
    forms = [urls(), as_data_uri]
    if raw_base64:
        forms.append(st.sampled_from([_raw(data) for _, data in pool]))
    return st.one_of(*forms)


@lru_cache(maxsize=4)
def _pool(formats: tuple[str, ...], low: int, high: int) -> tuple[tuple[str, bytes], ...]:
    sizes = [(low, low), (min(high, low + 37), min(high, low + 101))]
    return tuple((fmt, make_image(fmt, w, h)) for fmt in formats for w, h in sizes)
