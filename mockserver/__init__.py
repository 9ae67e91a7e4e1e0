"""A mock of MuleRouter's wan2.6-i2v-spark image-to-video API, driven by ``spec/openapi.yaml``.

The public surface: :func:`create_app` (with :class:`Settings`, and a :class:`ManualClock` for exact
tests) builds the app; :func:`launch` runs it as a process of its own; a :class:`WebhookReceiver`
collects the webhooks it (or any target) sends. The rest is internal.
"""

from typing import TYPE_CHECKING, Any

from mockserver.app import create_app
from mockserver.clock import ManualClock
from mockserver.launcher import MockProcess, launch
from mockserver.settings import Settings, SettingsError

if TYPE_CHECKING:
    from mockserver.webhook_receiver import WebhookReceiver

__all__ = ["ManualClock", "MockProcess", "Settings", "SettingsError", "WebhookReceiver", "create_app", "launch"]


def __getattr__(name: str) -> Any:
    # Imported when first asked for: the mock's own process never needs a receiver, and its start is timed.
    if name == "WebhookReceiver":
        from mockserver.webhook_receiver import WebhookReceiver

        return WebhookReceiver
    raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
