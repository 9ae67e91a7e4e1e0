"""A mock of MuleRouter's wan2.6-i2v-spark image-to-video API, driven by ``spec/openapi.yaml``."""

from mockserver.app import create_app
from mockserver.settings import Settings

__all__ = ["Settings", "create_app"]
