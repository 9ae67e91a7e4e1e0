"""Reading request bodies safely: bounded in size, and parsed as strict JSON with readable errors."""

from __future__ import annotations

import json
import re
import tempfile
from typing import IO, Any

import orjson
from starlette.types import Message, Receive

FAST_PARSE_BYTES = 64 * 1024
# Far deeper than any body of this API (two levels), far shallower than what would exhaust the stack.
MAX_DEPTH = 64
# Far more values than a create holds (about a dozen), far fewer than would fill memory: a parsed
# value costs up to about a hundred bytes, so a body of 32 MB of `{},` would take a gigabyte.
MAX_VALUES = 100_000
# A JSON string, unrolled so that a long one is one tight loop: the strings are left out when the
# values of a large body are counted.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Unpaired surrogates can only come from \\uD800-style escapes: valid UTF-8 cannot encode them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BodyTooLarge(ValueError):
    """The body is larger than the limit."""


class MalformedBody(ValueError):
    """The body is not a JSON document. The message says where it goes wrong."""


class TooManyValues(BodyTooLarge):
    """The body holds more JSON values than the mock parses."""


class BodyCutShort(MalformedBody):
    """The client went away before the whole body arrived (the answer is likely never read)."""


async def read_limited(receive: Receive, limit: int, declared: bytes, first: Message | None = None) -> bytes:
    """The whole body, read from the ASGI ``receive``, or :class:`BodyTooLarge` as soon as it passes
    ``limit`` bytes. A declared Content-Length (``declared``, the header's value or ``b""``) over the
    limit is refused before a byte is read. ``first``: the first message, if the caller has received
    it already. (A body that stops coming is the server's to time out: see :mod:`mockserver.http_protocol`.)
    """
    _check_declared(declared, limit)
    chunks: list[bytes] = []
    size = 0
    message = first or await receive()
    while True:
        chunk, more = _body_of(message, size)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes")
        if not more:
            return b"".join((*chunks, chunk)) if chunks else chunk  # a small body comes whole: no join
        chunks.append(chunk)
        message = await receive()


def whole_body(message: Message, limit: int) -> bytes | None:
    """The body, when the request's first message holds all of it and it is at most ``limit`` bytes
    (what nearly every small request sends); else ``None``: :func:`read_limited` reads the rest."""
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        if len(body) <= limit:
            return body
    return None


def _check_declared(declared: bytes, limit: int) -> None:
    if declared.isdigit() and int(declared) > limit:  # bytes: ASCII digits only
        raise BodyTooLarge(f"The request body is larger than {limit} bytes")


def _body_of(message: Message, received: int) -> tuple[bytes, bool]:
    """A chunk of the body, and whether more follows; :class:`BodyCutShort` if the client has gone."""
    if message["type"] == "http.disconnect":
        raise BodyCutShort(f"The connection closed after {received} bytes, before the whole request body arrived")
    return message.get("body", b""), message.get("more_body", False)


class SpoolFull(RuntimeError):
    """The disk room for bodies being received is taken; the client may retry shortly."""


class SpooledBody:
    """A body received into a temporary file; :meth:`read` it (off the event loop), then :meth:`close` it."""

    def __init__(self, file: IO[bytes], size: int, spool: Spool) -> None:
        self._file, self.size, self._spool = file, size, spool

    def read(self) -> bytes:
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._file.close()
        self._spool.release(self.size)
        self.size = 0


class Spool:
    """Room on disk for large bodies while they arrive, bounded in total (``capacity`` bytes).

    A body is received into a file before it waits for its turn to be parsed, so a client that sends
    slowly, or stops, holds a file of what it sent: neither memory nor a turn that others wait for.
    Past the capacity a body is refused (:class:`SpoolFull`) rather than waited for: bodies that
    wait for room while holding some would wait for each other.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0

    async def receive(self, receive: Receive, limit: int, declared: bytes) -> SpooledBody:
        """The body, as :func:`read_limited` reads it, in a file; or :class:`SpoolFull`."""
        _check_declared(declared, limit)
        file = tempfile.TemporaryFile()  # noqa: SIM115 -- SpooledBody closes it
        body = SpooledBody(file, 0, self)
        try:
            more = True
            while more:
                chunk, more = _body_of(await receive(), body.size)
                if body.size + len(chunk) > limit:
                    raise BodyTooLarge(f"The request body is larger than {limit} bytes")
                if self.used + len(chunk) > self.capacity:
                    raise SpoolFull(f"The mock is receiving {self.used} bytes of large bodies; retry shortly")
                self.used += len(chunk)
                body.size += len(chunk)
                file.write(chunk)  # to the page cache: microseconds for a chunk of 64 KiB
        except BaseException:
            body.close()
            raise
        return body

    def release(self, size: int) -> None:
        self.used -= size


def parse_json(raw: bytes) -> Any:
    """The body as JSON (UTF-8, no NaN or Infinity, no lone surrogates, at most ``MAX_DEPTH`` levels
    deep), or :class:`MalformedBody`; :class:`TooManyValues` past ``MAX_VALUES`` values, counted
    before it is parsed.

    The depth is bounded because the validator, and anything that writes about the body, recurses
    into it: nested a thousand levels, it would run out of stack.

    The standard library's reading is the contract; orjson, faster with the same checks, reads
    small bodies first. Where the two differ, orjson either refuses (numbers past a double, lone
    surrogates, anything malformed) or turns an integer past 64 bits into a large float; in both
    cases the standard library reads the body again and decides. tests/mock/test_bodies.py holds the
    two to the same answers.
    """
    if len(raw) <= FAST_PARSE_BYTES:
        try:
            value = orjson.loads(raw)  # orjson stops at its own depth (1024) without recursing
        except orjson.JSONDecodeError:
            value = _UNREAD  # the standard library says why, in its own words
        if type(value) is dict and _flat_and_exact(value):  # a create's body: one level, nothing to walk
            return value
        # Measured on small bodies only (a walk of a large one would hold the loop); the contract
        # adapter refuses a large one that nests too deep for the validator.
        if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
            raise MalformedBody(f"Malformed JSON: nested more than {MAX_DEPTH} levels deep")
        if value is not _UNREAD and not _has_large_float(value):
            return value
    elif _values(raw) > MAX_VALUES and _values(_STRING.sub(b'""', raw)) > MAX_VALUES:
        # A bound on the values, from the separators: those inside strings are counted only when
        # there are too many, since a large body is mostly the Base64 string of an image.
        raise TooManyValues(f"The request body holds more than {MAX_VALUES} JSON values")
    if not raw.strip():
        raise MalformedBody("The request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"The request body is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise MalformedBody("Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, or an integer with too many digits
        raise MalformedBody(f"Malformed JSON: {str(exc)[:120]}") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise MalformedBody("Malformed JSON: a \\u escape leaves a lone UTF-16 surrogate, which is not Unicode text")
    return value


def _values(raw: bytes) -> int:
    """At least the number of values in the JSON text ``raw``: one more than its commas, per container."""
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{")


def _depth(raw: bytes) -> int:
    """How deep the brackets of ``raw`` nest, outside strings (a bound: the JSON may still be malformed)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _flat_and_exact(value: dict[str, Any]) -> bool:
    """Whether an object holds no object or array (so it nests one level) and no float that orjson
    may have rounded from an integer past 64 bits: then orjson's reading is the standard library's."""
    for item in value.values():
        kind = type(item)
        if kind is dict or kind is list or (kind is float and not -_INT64 < item < _INT64):
            return False
    return True


def _has_large_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float and not -_INT64 < item < _INT64:
            return True
    return False


_INT64 = float(2**63)
_UNREAD: Any = object()  # what orjson could not read


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
