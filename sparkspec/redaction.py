"""Keeping secrets and bulk out of what is shown: journals, reports, recordings, exception messages.

Two rules. What a server saw (the mock's journal) is redacted by name and by value: headers whose
names suggest credentials are replaced, and the configured keys and every token a request's
Authorization header carried are scrubbed from every string, wherever a client put them. What a
client sent (a contract or live run) is masked by value: its own key, wherever it appears. Long
strings (Base64 images) are cut to a prefix and a length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
SECRET_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "signature", "session")
AUTH_SCHEMES = frozenset({"bearer", "basic", "digest", "token"})
MAX_HEADERS = 40
MAX_HEADER_CHARS = 200
MAX_STRING_CHARS = 120
MAX_ITEMS = 50
MAX_DEPTH = 6
MAX_TOKENS = 4
MASK = "***"
# A key is also searched for and masked inside any text shown; a very short key would mangle that
# text (masking "k" everywhere), so only keys of this length or more are. Headers are always masked.
MASKED_KEY_LENGTH = 8


def mask(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced, if the secret is long enough to be searched for safely."""
    return text.replace(secret, MASK) if len(secret) >= MASKED_KEY_LENGTH else text


def request_secrets(headers: Iterable[tuple[str, str]], keys: Iterable[str]) -> frozenset[str]:
    """What must not be shown: the configured keys, and each token of the Authorization header."""
    found = {key for key in keys if key}
    for name, value in headers:
        if name.lower() in ("authorization", "proxy-authorization"):
            tokens = [t for t in value.replace(",", " ").split() if len(t) >= 4 and t.lower() not in AUTH_SCHEMES]
            # Bounded: each secret is searched for in every string shown, so a header of a thousand
            # tokens would cost a thousand passes over each; past the first few, the header is shown
            # redacted anyway (its name says it holds credentials).
            found.update(tokens[:MAX_TOKENS])
    return frozenset(found)


def redact_headers(headers: Iterable[tuple[str, str]], secrets: frozenset[str] = frozenset()) -> dict[str, str]:
    """Request headers, with credentials replaced, secrets scrubbed and every value cut short."""
    out: dict[str, str] = {}
    for name, value in headers:
        if len(out) >= MAX_HEADERS:
            break
        key = name.lower()[:MAX_HEADER_CHARS]
        if any(word in key for word in SECRET_WORDS):
            scheme = value.split(None, 1)[0] if value.split() else ""
            out[key] = f"{scheme} {REDACTED}" if scheme.lower() in AUTH_SCHEMES else REDACTED
        else:
            out[key] = scrub(value[:MAX_HEADER_CHARS], secrets)
    return out


def scrub(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` with every secret replaced, in every string it holds."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def summarize(value: Any, depth: int = 0) -> Any:
    """A small copy of a JSON value: long strings become ``'<prefix>… (N characters)'``; a number too
    large for a double (``1e400`` reads as infinity) becomes its text, since JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
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
