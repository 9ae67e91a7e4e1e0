"""The request journal: a bounded record of what clients sent, for tests to check.

Recording is cheap, because it happens on every request: the raw parts are kept (a large body is
summarised at once, so each entry stays small), and an entry is put in shape only when someone
reads it. Secrets never leave it: headers whose names suggest credentials are replaced; of an
Authorization header only a known scheme word stays; the configured API keys and every token of
the request's Authorization header are scrubbed from every string of the entry (path, query,
headers, body), wherever a client put them. Long strings (Base64 images) are cut to a prefix and a
length.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from itertools import chain
from typing import Any

from mockserver.bodies import MalformedBody, parse_json
from mockserver.clock import timestamp
from sparkspec.redaction import MAX_HEADER_CHARS, MAX_HEADERS, redact_headers, request_secrets, scrub, summarize


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One request, as the mock saw it."""

    at: str
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    traceparent: str
    headers: dict[str, str]
    body: Any = None
    task_id: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# What a note holds before it is made (None is a value a note can hold: a shot type sent as null).
NOT_NOTED: Any = object()


@dataclass(slots=True)
class Notes:
    """What the handler of a request adds to its journal entry, besides what the request itself says."""

    body: Any = None  # the bytes that came (a small body, parsed when read) or a summary (a large one)
    task_id: str | None = None
    scenario: str | None = None
    shot_type: Any = NOT_NOTED
    fault: str | None = None  # what a scenario did to the answer (delayed, dropped, lost...)

    def shown(self) -> dict[str, Any]:
        """The notes an entry shows under ``notes``: those that were made."""
        shown: dict[str, Any] = {}
        if self.scenario is not None:
            shown["scenario"] = self.scenario
        if self.fault is not None:
            shown["fault"] = self.fault
        if self.shot_type is not NOT_NOTED:
            shown["shot_type"] = self.shot_type
        return shown


@dataclass(slots=True)
class Visit:
    """A request as recorded: raw, not yet redacted (that happens when it is read). Neither frozen nor
    a named tuple: either costs twice as much to make, and one is made for every request."""

    at: float
    method: str
    path: str
    query: bytes
    status: int
    seconds: float
    traceparent: str
    headers: bytes | list[tuple[bytes, bytes]]  # packed by pack_headers
    notes: Notes


# Up to this size in all, a request's headers are kept as they came (an entry cuts them when read);
# larger, each is cut when recorded, so that no entry keeps more than this.
_ROOMY = 2048


def pack_headers(headers: list[tuple[bytes, bytes]]) -> bytes | list[tuple[bytes, bytes]]:
    """The first ``MAX_HEADERS`` headers (all an entry shows), each name and value cut to what an entry
    shows, as one bytes object, names and values between newlines; as a list if one holds a newline
    (HTTP parsers refuse those, but an ASGI caller may not be one).

    A thousand kept requests' header lists are ten thousand small objects, freed long after they were
    made, when the CPU's caches have forgotten them: kept as one object each, creates run faster.
    """
    if len(headers) > MAX_HEADERS:  # else no copy: nearly every request
        headers = headers[:MAX_HEADERS]
    packed = b"\n".join(chain.from_iterable(headers))
    if len(packed) > _ROOMY:
        headers = [(name[:MAX_HEADER_CHARS], value[:MAX_HEADER_CHARS]) for name, value in headers]
        packed = b"\n".join(chain.from_iterable(headers))
    return packed if packed.count(b"\n") == 2 * len(headers) - 1 else list(headers)


def unpack_headers(headers: bytes | list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers :func:`pack_headers` kept."""
    if not isinstance(headers, bytes):
        return headers
    parts = headers.split(b"\n")
    return list(zip(parts[::2], parts[1::2], strict=True))


class Journal:
    """The last ``capacity`` requests, oldest dropped first; ``total`` counts every one.

    Args:
        capacity: How many requests to keep.
        api_keys: Keys to scrub from every entry, besides the tokens each request itself sent.
    """

    def __init__(self, capacity: int, api_keys: frozenset[str] = frozenset()) -> None:
        self.capacity = capacity
        self.api_keys = api_keys
        self.total = 0
        self._visits: deque[Visit] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, visit: Visit) -> None:
        # No lock: requests are recorded on the event loop's thread only, and a deque's append is atomic
        # for the readers of other threads (entries() takes its copy under the lock, in one C call).
        self._visits.append(visit)
        self.total += 1

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        """Oldest first; with ``limit``, only the newest ``limit`` entries."""
        with self._lock:
            visits = list(self._visits)
        visits = visits if limit is None else visits[-limit:] if limit > 0 else []
        return [self._present(visit) for visit in visits]

    def _present(self, visit: Visit) -> JournalEntry:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in unpack_headers(visit.headers)]
        secrets = request_secrets(headers, self.api_keys)
        notes = visit.notes
        return JournalEntry(
            at=timestamp(visit.at, "micro"),
            method=visit.method,
            path=scrub(visit.path, secrets),
            query=scrub(visit.query.decode("latin-1"), secrets),
            status=visit.status,
            duration_ms=round(visit.seconds * 1000, 3),
            traceparent=visit.traceparent,
            headers=redact_headers(headers, secrets),
            body=scrub(summarize(_as_json(notes.body)), secrets),
            task_id=notes.task_id,
            notes=scrub(summarize(notes.shown()), secrets),
        )

    @property
    def dropped(self) -> int:
        return self.total - len(self._visits)

    def clear(self) -> None:
        with self._lock:
            self._visits.clear()
            self.total = 0


def _as_json(body: Any) -> Any:
    """A body kept as the bytes that came, parsed; anything else as it is."""
    if not isinstance(body, bytes):
        return body
    try:
        return parse_json(body)
    except MalformedBody:  # only bodies that parsed are kept; but never fail a read of the journal
        return body.decode("utf-8", "replace")
