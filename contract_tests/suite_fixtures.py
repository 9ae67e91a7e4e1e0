"""Fixtures the suites share; all session-scoped, so that Hypothesis examples reuse them.

Loaded by the runner with ``-p contract_tests.suite_fixtures``; each one comes from the run's
:class:`~contract_tests.plugin.ContractPlugin`.
"""

from __future__ import annotations

from typing import Any

import pytest

from contract_tests.boundaries import base_body
from contract_tests.config import ConfigError, RunConfig
from contract_tests.lifecycle import TaskWatcher
from contract_tests.plugin import PLUGIN, ContractPlugin
from contract_tests.target import Target
from contract_tests.verdicts import Verdicts
from mockserver import WebhookReceiver
from sparkspec.openapi import ApiSpec


def _plugin(request: pytest.FixtureRequest) -> ContractPlugin:
    return request.config.stash[PLUGIN]


def run_spec(config: pytest.Config) -> ApiSpec:
    """The run's spec, for a suite's ``pytest_generate_tests``: cases are parametrized from the spec
    the run holds, not from one a module loads for itself at import."""
    return config.stash[PLUGIN].spec


@pytest.fixture(scope="session")
def run_config(request: pytest.FixtureRequest) -> RunConfig:
    return _plugin(request).config


@pytest.fixture(scope="session")
def spec(request: pytest.FixtureRequest) -> ApiSpec:
    return _plugin(request).spec


@pytest.fixture(scope="session")
def base(spec: ApiSpec) -> dict[str, Any]:
    """A valid create body: each required field at a valid value, from the spec."""
    return base_body(spec)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    return _plugin(request).target


@pytest.fixture(scope="session")
def verdicts(request: pytest.FixtureRequest, spec: ApiSpec, run_config: RunConfig) -> Verdicts:
    assert run_config.base_url is not None
    return Verdicts(spec, run_config.base_url, _plugin(request).ledger)


@pytest.fixture(scope="session")
def webhook_receiver(request: pytest.FixtureRequest) -> WebhookReceiver:
    """What the target sent to ``WEBHOOK_LISTEN`` during the run (only when the run checks webhooks)."""
    receiver = _plugin(request).receiver
    if receiver is None:
        raise ConfigError("the webhook suite needs WEBHOOK_LISTEN")
    return receiver


@pytest.fixture(scope="session")
def watcher(target: Target, verdicts: Verdicts, spec: ApiSpec, run_config: RunConfig) -> TaskWatcher:
    return TaskWatcher.for_spec(
        spec, target, verdicts, timeout=run_config.task_timeout, interval=run_config.poll_interval
    )
