"""Schemathesis hooks for this spec, for the `schemathesis` command line (``schemathesis.toml`` loads it).

Without them, Schemathesis would fill ``image`` with random strings that no target accepts, and
report the refusals as failures.
"""

from contract_tests.schemathesis_bridge import register_formats
from sparkspec.openapi import ApiSpec

register_formats(ApiSpec.load())
