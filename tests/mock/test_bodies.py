"""parse_json: orjson's fast reading never gives another answer than the standard library's."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockserver.bodies import MalformedBody, parse_json


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _reference(raw: bytes) -> Any:
    """The standard library alone, as parse_json read every body before orjson."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate fails here
    except (UnicodeError, ValueError, RecursionError):
        return MalformedBody
    return value


def _ours(raw: bytes) -> Any:
    try:
        return parse_json(raw)
    except MalformedBody:
        return MalformedBody


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
JSONISH = st.text(alphabet='{}[]":,0123456789.eE+- \\u\tntrfalsNIyd8', max_size=40).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_valid_json_reads_the_same(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert _same(_ours(raw), _reference(raw))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40) | JSONISH)
@example(b'{"seed": 18446744073709551616}')
@example(b'{"seed": -9223372036854775809}')
@example(b'{"seed": 123456789012345678901234567890}')
@example(b'{"a": 1e400}')
@example(b'{"a": 1e19}')
@example(b'{"a": "\\ud800"}')
@example(b'{"a": "\\ud83d\\ude00"}')
@example(b'{"a": NaN}')
@example(b"\xef\xbb\xbf{}")
@example(b'{"a":1,"a":2}')
@example(b"[" * 2000)
@example(b"  ")
@example(b'"\\u0000"')
def test_any_bytes_read_the_same(raw: bytes) -> None:
    assert _same(_ours(raw), _reference(raw))


@pytest.mark.parametrize("raw", [b'{"seed": 18446744073709551616}', b'{"seed": -9223372036854775809}'])
def test_integers_past_64_bits_stay_integers(raw: bytes) -> None:
    seed = parse_json(raw)["seed"]
    assert isinstance(seed, int) and str(seed) in raw.decode()
