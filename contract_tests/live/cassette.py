"""Cassettes: a live run's exchanges, recorded for drift checks. The format is in fixtures/cassettes/README.md.

Nothing secret is written: the bearer token is masked by the target before a recorder sees an
exchange, and the key is scrubbed once more from the whole file. Long strings (Base64 images,
prompts of thousands of characters) become a digest with their length and first characters; the
request is still replayable, because every request of a live run comes from its plan, and the
plan rebuilds the same bytes (``body_sha256`` proves it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract_tests.target import Exchange
from sparkspec.redaction import MASK, MASKED_KEY_LENGTH, mask

FORMAT = "wan-spark-cassette/1"
LONG_STRING = 200


@dataclass
class Recorder:
    """Listens to a :class:`~contract_tests.live.pacing.PacedTarget` and keeps every attempt of every call."""

    target: str
    spec_version: str
    current_probe: Callable[[], str]
    interactions: list[dict[str, Any]] = field(default_factory=list)
    _call: int = 0
    _started: float = field(default_factory=time.monotonic)

    def __call__(self, exchange: Exchange, attempt: int) -> None:
        if attempt == 0:
            self._call += 1
        self.interactions.append(
            {
                "call": self._call,
                "attempt": attempt,
                "probe": self.current_probe(),
                "t": round(time.monotonic() - self._started, 3),
                "request": {
                    "method": exchange.method,
                    "path": urlsplit(exchange.url).path,
                    "url": exchange.url,
                    "headers": exchange.request_headers,
                    "body": redact_body(exchange.request_body),
                    "body_sha256": _sha256(exchange.request_body) if exchange.request_body is not None else None,
                },
                "response": {
                    "status": exchange.status,
                    "headers": {k: mask(v, exchange.secret) for k, v in exchange.response_headers.items()},
                    "body": redact_body(exchange.response_body.replace(*_masking(exchange.secret))),
                    "elapsed_ms": round(exchange.elapsed * 1000, 1),
                },
            }
        )

    def save(self, where: Path, api_key: str) -> Path:
        """Write the cassette to ``where`` (a file, or a directory to put a dated file in)."""
        path = where / f"live-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json" if where.suffix != ".json" else where
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "format": FORMAT,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": self.target,
            "spec_version": self.spec_version,
            "interactions": self.interactions,
        }
        path.write_text(mask(json.dumps(document, indent=1, ensure_ascii=False), api_key), encoding="utf-8")
        return path


def load(path: Path) -> dict[str, Any]:
    """Read a cassette, refusing files of another format."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} cassette")
    return document


def final_attempts(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The last attempt of each call: what the run judged (earlier ones were retried)."""
    last: dict[int, dict[str, Any]] = {}
    for interaction in document["interactions"]:
        last[interaction["call"]] = interaction
    return [last[call] for call in sorted(last)]


def _masking(secret: str) -> tuple[bytes, bytes]:
    """What to replace in a raw body so that ``mask`` would have masked it (nothing for a short key)."""
    return (secret.encode(), MASK.encode()) if len(secret) >= MASKED_KEY_LENGTH else (b"", b"")


def redact_body(body: bytes | None) -> Any:
    """A body for the cassette: JSON with long strings digested, or short text, or a digest."""
    if body is None:
        return None
    try:
        return _redact(json.loads(body))
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        return {"$text": text} if len(text) <= 2000 else _digest(text)


def _redact(value: Any) -> Any:
    if isinstance(value, str) and len(value) > LONG_STRING:
        return _digest(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _digest(text: str) -> dict[str, Any]:
    return {"$digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest(), "length": len(text), "prefix": text[:40]}


def _sha256(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def sha256_of(content: bytes | None) -> str | None:
    return None if content is None else _sha256(content)
