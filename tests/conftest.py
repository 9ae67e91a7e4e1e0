"""Shared fixtures: the spec, a manual clock, and clients whose every response is checked against the spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contract_tests.conformance import ResponseChecker
from mockserver import ManualClock, Settings, create_app
from sparkspec.openapi import ApiSpec
from tests.helpers import ClientFactory, SpecCheckedClient


@pytest.fixture(scope="session")
def spec() -> ApiSpec:
    return ApiSpec.load()


@pytest.fixture(scope="session")
def checker(spec: ApiSpec) -> ResponseChecker:
    return ResponseChecker(spec)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_client(spec: ApiSpec, checker: ResponseChecker, clock: ManualClock) -> Iterator[ClientFactory]:
    """Build a spec-checked client for a mock with the given settings (on the test's manual clock)."""
    clients: list[SpecCheckedClient] = []

    def factory(settings: Settings | None = None, **kwargs: Any) -> SpecCheckedClient:
        app = create_app(settings or Settings(), clock=kwargs.pop("clock", clock), spec=spec)
        client = SpecCheckedClient(app, checker, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SpecCheckedClient:
    return make_client()
