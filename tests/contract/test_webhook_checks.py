"""The contract run checks a target's webhooks when it is given WEBHOOK_LISTEN: it fails a target whose
signatures do not verify, passes the bundled mock, and tells another reading of the docs from a fault."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from contract_tests.config import ConfigError, RunConfig
from contract_tests.conformance import ResponseChecker
from contract_tests.task_plan import plan_run
from contract_tests.webhook_checks import WebhookJudge
from mockserver.launcher import free_port
from sparkspec.openapi import ApiSpec
from sparkspec.webhook_signature import sign
from tests.helpers import REPO, serve
from tests.stand_ins.bad_webhooks import build

KEY = "sk-mr-webhook-check-5e2a7c"
SECRET = "whsec_" + "c0ffee42" * 4
TASK = "123e4567-e89b-42d3-a456-426614174000"


def spark_contract(directory: Path, listen: str, **variables: str) -> tuple[int, str, dict[str, Any]]:
    """``spark-contract -k webhooks`` as a user runs it, with the webhook settings in the environment."""
    env = {
        **os.environ,
        "REPORT_DIR": str(directory),
        "PROFILE": "smoke",
        "TASK_TIMEOUT": "10",
        "WEBHOOK_LISTEN": listen,
        **variables,
    }
    command = [str(REPO / ".venv/bin/spark-contract"), "-k", "webhooks"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    report_file = directory / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return done.returncode, done.stdout + done.stderr, report


@pytest.mark.socket
def test_a_target_whose_signatures_do_not_verify_fails_the_run(tmp_path: Path) -> None:
    port = free_port()
    app = build("wrong-secret", f"http://127.0.0.1:{port}/", SECRET, KEY)
    with serve(app, free_port(), lifespan="on") as url:
        code, output, report = spark_contract(
            tmp_path, f"127.0.0.1:{port}", BASE_URL=url, API_KEY=KEY, WEBHOOK_SECRET=SECRET
        )
    assert code == 1, output[-3000:]
    found = [v for v in report["violations"] if v["check"] == "webhooks.signature"]
    assert found and "does not verify with WEBHOOK_SECRET under any reading" in found[0]["title"]
    assert {v["check"] for v in report["violations"]} == {"webhooks.signature"}  # the rest of it is sound
    for text in (output, *(p.read_text() for p in tmp_path.iterdir())):
        assert SECRET not in text and KEY not in text


@pytest.mark.socket
def test_the_bundled_mock_passes_with_its_webhooks_sent_to_the_run(tmp_path: Path) -> None:
    code, output, report = spark_contract(tmp_path, f"127.0.0.1:{free_port()}")
    assert code == 0, output[-3000:]
    assert report["verdict"] == "PASSED" and report["violations"] == [] and report["deviations"] == []
    assert "webhooks received on 127.0.0.1:" in output and "1 passed" in output


@dataclass
class Sent:
    """A delivery as a receiver keeps it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/"
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


def delivery(event_type: str = "task.created", status: str = "queued", **signing: Any) -> Sent:
    """A task event signed with SECRET (as the docs say, unless ``signing`` takes another reading)."""
    info = {"id": TASK, "status": status, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    payload = {"task_info": info}
    event = {
        "id": "evt_1",
        "type": event_type,
        "created_at": "2026-01-01T00:00:00Z",
        "data": {"vendor": "mulerouter", "model_name": "wan2.6-i2v-spark", "payload": payload},
    }
    body = json.dumps(event).encode()
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "x-mulerouter-webhook-id": "dlv_1",
        "x-mulerouter-webhook-timestamp": str(stamp),
        "x-mulerouter-webhook-signature": sign(SECRET, "dlv_1", stamp, body, **signing),
    }
    return Sent(body, headers, received_at=float(stamp))  # received the second it was signed


@pytest.fixture(scope="module")
def judge() -> WebhookJudge:
    spec = ApiSpec.load()
    return WebhookJudge(spec, SECRET, ResponseChecker(spec), "http://target.example")


def test_a_delivery_as_documented_is_judged_sound(judge: WebhookJudge) -> None:
    assert judge.judge(delivery(), "task.created", TASK) == []


@pytest.mark.parametrize(("signing", "rule"), [({"encoding": "base64"}, "encoding"), ({"key": "after-prefix"}, "key")])
def test_a_signature_under_another_reading_of_the_docs_is_a_deviation(
    judge: WebhookJudge, signing: dict[str, str], rule: str
) -> None:
    (found,) = judge.judge(delivery(**signing), "task.created", TASK)
    assert found.check == "webhooks.signature" and found.deviation and found.basis == "assumed"
    assert "MOCK_WEBHOOK_SIGNATURE_ENCODING" in found.docs if rule == "encoding" else "MOCK_WEBHOOK_KEY" in found.docs


def test_a_payload_of_the_wrong_phase_or_task_and_a_stale_timestamp_are_violations(judge: WebhookJudge) -> None:
    late = delivery("task.succeeded", status="queued")
    late.received_at += 301
    found = judge.judge(late, "task.succeeded", "6f1c0000-0000-4000-8000-000000000000")
    assert {(f.check, f.deviation) for f in found} == {
        ("webhooks.headers", False),
        ("webhooks.payload", False),
    }
    titles = " | ".join(f.title for f in found)
    assert "301 s off" in titles and "about another task" in titles and "another phase (queued)" in titles


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"WEBHOOK_LISTEN": "9000"}, "WEBHOOK_LISTEN must be host:port"),
        ({"WEBHOOK_LISTEN": "127.0.0.1:70000"}, "WEBHOOK_LISTEN must be host:port"),
        ({"WEBHOOK_LISTEN": "127.0.0.1:9000", "BASE_URL": "http://t.example", "API_KEY": KEY}, "needs WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "sk-not-a-secret-42"}, "WEBHOOK_SECRET: a webhook secret starts with whsec_"),
    ],
)
def test_webhook_settings_of_a_run_are_checked_without_showing_the_secret(
    environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        RunConfig.from_env(environ)
    assert "not-a-secret" not in str(refused.value)


def test_checking_webhooks_plans_one_task_for_them() -> None:
    config = RunConfig.from_env({"WEBHOOK_LISTEN": "[::1]:9000", "WEBHOOK_SECRET": SECRET})
    assert config.webhook_listen == ("::1", 9000) and SECRET not in repr(config)
    plain = plan_run(ApiSpec.load(), config.profile, 200)
    checked = plan_run(ApiSpec.load(), config.profile, 200, webhooks=True)
    assert checked.limits["webhooks"] == 1 and "webhooks" not in plain.limits
    assert checked.total == plain.total + 1
