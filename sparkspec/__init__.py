"""The contract as data: ``spec/openapi.yaml`` read once, and what both the mock and the suites take from it.

The bottom layer of the toolkit: the spec loader and its operations and lifecycle
(:mod:`sparkspec.openapi`), where each rule comes from (:mod:`sparkspec.provenance`), the image
rules that JSON Schema cannot express (:mod:`sparkspec.image_rules`), the redaction of secrets
(:mod:`sparkspec.redaction`), where the bundled files live (:mod:`sparkspec.resources`), and the
webhooks' rules (:mod:`sparkspec.webhook_rules`) and signatures (:mod:`sparkspec.webhook_signature`).
It imports nothing else of the toolkit; :mod:`mockserver` and :mod:`contract_tests` stand on it.
"""

from sparkspec.openapi import ApiSpec, Lifecycle, Operation, SpecError
from sparkspec.provenance import Provenance, Provenances

__all__ = ["ApiSpec", "Lifecycle", "Operation", "Provenance", "Provenances", "SpecError"]
