"""A mock of MuleRouter's wan2.6-i2v-spark image-to-video API, driven by ``spec/openapi.yaml``.

The public surface: :func:`create_app` (with :class:`Settings`, and a :class:`ManualClock` for exact
tests) builds the app; :func:`launch` runs it as a process of its own. The rest is internal.
"""

from mockserver.app import create_app
from mockserver.clock import ManualClock
from mockserver.launcher import MockProcess, launch
from mockserver.settings import Settings, SettingsError

__all__ = ["ManualClock", "MockProcess", "Settings", "SettingsError", "create_app", "launch"]
