"""A mock of MuleRouter's wan2.6-i2v-spark image-to-video API, driven by ``spec/openapi.yaml``.

The public surface: :func:`create_app` (with :class:`Settings`, and a :class:`ManualClock` for exact
tests) builds the app; :func:`launch` runs it as a process of its own; a :class:`WebhookReceiver`
collects the webhooks it (or any target) sends. The rest is internal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.app import create_app
    from mockserver.clock import ManualClock
    from mockserver.launcher import MockProcess, launch
    from mockserver.settings import Settings, SettingsError
    from mockserver.webhook_receiver import WebhookReceiver

__all__ = ["ManualClock", "MockProcess", "Settings", "SettingsError", "WebhookReceiver", "create_app", "launch"]
# Loaded when first asked for: the render process imports a module of this package, and needs none of
# the server (the app alone takes most of a second to import).
_HOMES = {
    "create_app": "mockserver.app",
    "ManualClock": "mockserver.clock",
    "MockProcess": "mockserver.launcher",
    "launch": "mockserver.launcher",
    "Settings": "mockserver.settings",
    "SettingsError": "mockserver.settings",
    "WebhookReceiver": "mockserver.webhook_receiver",  # the mock's own process never needs one
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
