"""Both operations refuse a missing or malformed bearer token with 401."""

from __future__ import annotations

from typing import Any

import pytest

from contract_tests.findings import violation
from contract_tests.target import Exchange, Target
from contract_tests.verdicts import Verdicts

pytestmark = pytest.mark.tasks("auth")
BAD_CREDENTIALS = {
    "no Authorization header": {},
    "a Bearer without a token": {"Authorization": "Bearer"},
    "the Basic scheme": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
    "a token without a scheme": {"Authorization": "sk-mr-0123456789abcdef"},
}


@pytest.fixture(scope="session")
def existing_task(target: Target, base: dict[str, Any]) -> str:
    """A real task, so that a 401 on its poll cannot be a 404 in disguise."""
    created = target.create(base)
    body = created.json() if 200 <= created.status < 300 else None
    task_id = body.get("task_info", {}).get("id") if isinstance(body, dict) else None
    if not isinstance(task_id, str):
        pytest.fail(f"could not create a task to poll: {created.describe()}")
    return task_id


def _must_be_401(exchange: Exchange, verdicts: Verdicts, what: str) -> None:
    found = verdicts.conformance(exchange)
    if exchange.status != 401:
        found.append(violation("auth.required", f"{what} was not refused with 401", "401 Unauthorized", exchange))
    verdicts.settle(found)


@pytest.mark.parametrize("headers", list(BAD_CREDENTIALS.values()), ids=list(BAD_CREDENTIALS))
def test_create_refuses_a_missing_or_malformed_bearer(
    headers: dict[str, str], target: Target, verdicts: Verdicts, base: dict[str, Any]
) -> None:
    exchange = target.create(base, auth=False, headers=headers, meant_to_be_rejected=True)
    _must_be_401(exchange, verdicts, "A create without a valid bearer token")


@pytest.mark.parametrize("headers", list(BAD_CREDENTIALS.values()), ids=list(BAD_CREDENTIALS))
def test_poll_refuses_a_missing_or_malformed_bearer(
    headers: dict[str, str], existing_task: str, target: Target, verdicts: Verdicts
) -> None:
    exchange = target.poll(existing_task, auth=False, headers=headers)
    _must_be_401(exchange, verdicts, "A poll without a valid bearer token")
