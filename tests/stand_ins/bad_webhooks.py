"""Targets whose webhooks break the contract, each the real mock with one change, for the contract run's
webhook check (tests/contract/test_webhook_checks.py) to catch."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from mockserver import Settings, create_app

SPEED = 1000.0


def build(variant: str, webhook_url: str, secret: str, api_key: str) -> ASGIApp:
    """The mock sending its webhooks to ``webhook_url``, broken as ``variant`` says:

    - ``wrong-secret``: signed with another secret than ``secret``, the endpoint's;
    - ``base64``: signed right, but with a Base64 digest (another reading of the docs: a deviation);
    - ``none``: nothing broken.
    """
    signing: dict[str, Any] = {
        "wrong-secret": {"webhook_secret": secret + "-not-the-one-registered"},
        "base64": {"webhook_secret": secret, "webhook_signature_encoding": "base64"},
        "none": {"webhook_secret": secret},
    }[variant]
    settings = Settings(
        speed=SPEED, api_keys=frozenset({api_key}), webhook_urls=(webhook_url,), webhook_backoff=0.01, **signing
    )
    return create_app(settings)
