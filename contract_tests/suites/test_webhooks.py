"""Webhooks, when the run is given WEBHOOK_LISTEN: a task's events arrive, in the documented envelope and
headers, and their signatures verify with WEBHOOK_SECRET (the runner leaves this suite out otherwise)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contract_tests.config import RunConfig
from contract_tests.findings import Finding
from contract_tests.target import Target
from contract_tests.verdicts import Verdicts
from contract_tests.webhook_checks import TASK_CREATED, TASK_FAILED, TASK_SUCCEEDED, WebhookJudge
from mockserver import WebhookReceiver
from sparkspec.openapi import ApiSpec


@pytest.mark.tasks("webhooks")
def test_a_task_s_webhooks_arrive_signed(
    target: Target,
    verdicts: Verdicts,
    spec: ApiSpec,
    base: dict[str, Any],
    run_config: RunConfig,
    webhook_receiver: WebhookReceiver,
) -> None:
    """task.created, then task.succeeded or task.failed, each a signed POST of the documented envelope whose
    payload is what a poll answers; within TASK_TIMEOUT of the create."""
    created = target.create(base)
    found: list[Finding] = verdicts.accepted(created, "a plain valid request")
    body = created.json()
    task_id = body.get("task_info", {}).get("id") if isinstance(body, dict) else None
    if not isinstance(task_id, str):
        verdicts.settle(found)  # the lifecycle suite says what is wrong with the create's answer
        pytest.fail(f"the create gave no task id to wait for webhooks of: {created.describe()}")
    assert run_config.base_url is not None
    judge = WebhookJudge(spec, run_config.webhook_secret, verdicts.responses, run_config.base_url)
    deadline = time.monotonic() + run_config.task_timeout
    for events in ((TASK_CREATED,), (TASK_SUCCEEDED, TASK_FAILED)):
        try:
            delivery = webhook_receiver.wait_for(events, task_id, timeout=max(0.0, deadline - time.monotonic()))
        except AssertionError:
            seen = webhook_receiver.deliveries()
            found.append(judge.missing(" or ".join(events), task_id, run_config.task_timeout, seen))
            continue
        found += judge.judge(delivery, str(delivery.type), task_id)
    verdicts.settle(found)
