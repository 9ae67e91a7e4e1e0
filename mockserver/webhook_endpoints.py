"""Webhook endpoints: where the mock sends its events, each with its signing secret.

As in MuleRouter's console (api-facts §8): a few endpoints, each a URL and an optional description of
bounded length, and a ``whsec_...`` secret each. The bounds are the spec's ``x-webhook-endpoints``,
given to :class:`Endpoints`. The console takes HTTPS URLs only; the mock takes ``http://`` too, so
that a test's receiver on 127.0.0.1 needs no certificate.

Secrets are kept here and nowhere else: an endpoint's repr, its public description and every message
of :class:`EndpointError` leave them out.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sparkspec.webhook_rules import EndpointLimits
from sparkspec.webhook_signature import SECRET_PREFIX, KeyReading, signing_key


class EndpointError(ValueError):
    """An endpoint the mock cannot take. The message says why, and never shows a secret."""


class TooManyEndpoints(EndpointError):
    """One endpoint more than the spec's ``max-endpoints``."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A URL that receives every event, and the secret its deliveries are signed with."""

    id: str
    url: str
    secret: str = field(repr=False)
    description: str = ""
    created_at: float = 0.0

    def public(self) -> dict[str, Any]:
        """The endpoint as the admin API shows it: without its secret, its URL without credentials."""
        return {"id": self.id, "url": shown_url(self.url), "description": self.description}


def url_problem(url: Any, max_length: int | None = None) -> str | None:
    """What is wrong with a webhook URL, or ``None``: its shape, and its length when ``max_length`` (the
    spec's ``url-max-length``) is given."""
    if not isinstance(url, str) or not url:
        return "a webhook URL is a non-empty string"
    if max_length is not None and len(url) > max_length:
        return f"a webhook URL has at most {max_length} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it: a port past 65535 raises)
    except ValueError:
        return "a webhook URL must be an http(s) URL with a host"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return "a webhook URL must be an http(s) URL with a host"
    return None


def shown_url(url: str) -> str:
    """``url`` fit to be shown: any user name or password in it, and its query, replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc if "@" not in parts.netloc else "***@" + parts.netloc.rpartition("@")[2]
    query = "?***" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 48 hex digits (Base64 too, so every key reading takes it)."""
    return SECRET_PREFIX + secrets.token_hex(24)


class Endpoints:
    """The endpoints of one mock: those it was configured with, and those the admin API adds.

    Args:
        key: How a secret is read as a key (checked for every secret it is given).
        configured: ``(url, secret)`` of the endpoints it starts with, and returns to on :meth:`restore`.
        limits: The spec's ``x-webhook-endpoints``: how many endpoints, how long a URL and a description.
    """

    def __init__(self, key: KeyReading, configured: Sequence[tuple[str, str]] = (), *, limits: EndpointLimits) -> None:
        self.key = key
        self.limits = limits
        # Configured endpoints get ids of their place and URL: the same in every worker.
        self._configured = [
            self._endpoint(url, secret, "", 0.0, "we_" + hashlib.sha256(f"{n}:{url}".encode()).hexdigest()[:16])
            for n, (url, secret) in enumerate(configured)
        ]
        self._endpoints = list(self._configured)
        if len(self._endpoints) > limits.max_endpoints:
            raise TooManyEndpoints(f"at most {limits.max_endpoints} webhook endpoints, as the console allows")

    def add(self, url: Any, secret: Any, description: Any = "", now: float = 0.0) -> Endpoint:
        """Register an endpoint; :class:`TooManyEndpoints` for one past the limit, :class:`EndpointError`
        for bad input."""
        if len(self._endpoints) >= self.limits.max_endpoints:
            raise TooManyEndpoints(
                f"at most {self.limits.max_endpoints} webhook endpoints, as the console allows; remove one first"
            )
        longest = self.limits.description_max_length
        if not isinstance(description, str) or len(description) > longest:
            raise EndpointError(f"description is a string of at most {longest} characters")
        endpoint = self._endpoint(url, secret, description, now)
        self._endpoints.append(endpoint)
        return endpoint

    def remove(self, endpoint_id: str) -> bool:
        """Forget one endpoint; ``False`` when there is none of that id."""
        kept = [e for e in self._endpoints if e.id != endpoint_id]
        removed = len(kept) != len(self._endpoints)
        self._endpoints = kept
        return removed

    def clear(self) -> None:
        self._endpoints = []

    def replace(self, endpoints: Sequence[Endpoint]) -> None:
        """These endpoints from now on: as another worker set them (already checked there)."""
        self._endpoints = list(endpoints)

    def restore(self) -> None:
        """Back to the configured endpoints, as at start."""
        self._endpoints = list(self._configured)

    def _endpoint(
        self, url: Any, secret: Any, description: str, now: float, endpoint_id: str | None = None
    ) -> Endpoint:
        problem = url_problem(url, self.limits.url_max_length)
        if problem is not None:
            raise EndpointError(problem)
        if not isinstance(secret, str):
            raise EndpointError(f"a webhook secret is a string that starts with {SECRET_PREFIX}")
        try:
            signing_key(secret, self.key)
        except ValueError as exc:  # its message never shows the secret
            raise EndpointError(str(exc)) from None
        return Endpoint(endpoint_id or "we_" + secrets.token_hex(8), url, secret, description, now)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(list(self._endpoints))

    def __len__(self) -> int:
        return len(self._endpoints)
