"""The request journal: a bounded record of what clients sent, for tests to check.

Secrets never enter it: the bearer token is replaced, and so are other credential headers. Long
strings (Base64 images) are cut to a prefix and a length, so each entry stays small.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
MAX_HEADERS = 40
MAX_HEADER_CHARS = 200
MAX_STRING_CHARS = 120
MAX_ITEMS = 50
MAX_DEPTH = 6


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


class Journal:
    """The last ``capacity`` requests, oldest dropped first; ``total`` counts every one."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.total = 0
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            self.total += 1

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        """Oldest first; with ``limit``, only the newest ``limit`` entries."""
        with self._lock:
            items = list(self._entries)
        return items if limit is None else items[-limit:] if limit > 0 else []

    @property
    def dropped(self) -> int:
        return self.total - len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.total = 0


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request headers, with credentials replaced and every value cut short."""
    out: dict[str, str] = {}
    for name, value in headers:
        if len(out) >= MAX_HEADERS:
            break
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if key == "authorization" and " " in value else ""
            out[key] = f"{scheme} {REDACTED}".strip()
        else:
            out[key] = value[:MAX_HEADER_CHARS]
    return out


def summarize(value: Any, depth: int = 0) -> Any:
    """A small copy of a JSON value: long strings become ``'<prefix>… (N characters)'``."""
    if isinstance(value, str):
        if len(value) <= MAX_STRING_CHARS:
            return value
        return f"{value[:48]}… ({len(value)} characters)"
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list):
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k)[:MAX_STRING_CHARS]: summarize(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more fields"
        return out
    if isinstance(value, list):
        out_list = [summarize(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"… {len(value) - MAX_ITEMS} more items")
        return out_list
    return value
