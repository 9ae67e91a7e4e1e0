"""Schemathesis hooks for this spec, for the `schemathesis` command line (``schemathesis.toml`` loads it).

Without them, Schemathesis would fill ``image`` with random strings that no target accepts, and
report the refusals as failures.

They import nothing of this project and nothing that Schemathesis does not bring itself (PyYAML,
Hypothesis): Schemathesis installed on its own (``pipx``, ``uvx``) runs them in this directory. So
the images are PNGs written here with zlib, at the sides the spec's ``x-image-rules`` allow, and the
rules are read from ``spec/openapi.yaml`` next to this package. The contract suites teach Schemathesis
their own, richer generator (``contract_tests.schemathesis_bridge.register_formats``).
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import schemathesis
import yaml
from hypothesis import strategies as st

SPEC = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"
# Sides are drawn from the smallest allowed and a little above it: large images only slow a run.
SIDE_SPREAD = 64


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """An opaque RGB PNG of ``width`` x ``height`` pixels of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, not interlaced
    pixels = zlib.compress((b"\x00" + bytes(colour) * width) * height)  # each row: filter 0, then its pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def images(rules: dict[str, Any]) -> st.SearchStrategy[str]:
    """Images that every reading of ``rules`` takes: an https URL, or a PNG as a data URI."""
    low = int(rules["min-side"])
    sides = st.integers(low, min(int(rules["max-side"]), low + SIDE_SPREAD))
    colours = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
    uris = st.builds(
        lambda width, height, colour: "data:image/png;base64," + base64.b64encode(png(width, height, colour)).decode(),
        sides,
        sides,
        colours,
    )
    hosts = st.from_regex(r"[a-z](?:[a-z0-9-]{0,20}[a-z0-9])?\.(?:com|net|org)", fullmatch=True)
    return st.one_of(st.builds(lambda host: f"https://{host}/first_frame.png", hosts), uris)


def register(spec: Path = SPEC) -> list[str]:
    """Register a generator for each format that carries ``x-image-rules`` in ``spec``; the formats' names."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    formats = []
    for schema in document.get("components", {}).get("schemas", {}).values():
        if isinstance(schema, dict) and "x-image-rules" in schema and "format" in schema:
            schemathesis.openapi.format(schema["format"], images(schema["x-image-rules"]))
            formats.append(schema["format"])
    return formats


register()
