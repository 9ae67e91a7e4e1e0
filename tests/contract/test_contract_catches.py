"""The contract suites catch broken targets, for the right reason, and pass against the real mock.

Each run goes through the public interface, `make contract BASE_URL=... API_KEY=...`, against a
variant of the mock served on a real socket (tests/stand_ins/broken.py). The suites never see the
variants' code: only what comes back over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from mockserver import Settings, create_app
from mockserver.launcher import free_port
from tests.helpers import REPO, serve
from tests.stand_ins.broken import SPEED, build

pytestmark = pytest.mark.socket
KEY = "sk-mr-contract-test-7f3a9c21d4"


@dataclass
class Run:
    code: int
    output: str
    report: dict[str, Any]
    directory: Path

    @property
    def checks(self) -> set[str]:
        return {v["check"] for v in self.report["violations"]}


def contract(base_url: str | None, directory: Path, *, via_make: bool = True, **variables: str) -> Run:
    """`make contract` as a user types it (or `spark-contract`, whose exit codes make folds into 2)."""
    settings = {"REPORT_DIR": str(directory), **variables}
    if base_url is not None:
        settings |= {"BASE_URL": base_url, "API_KEY": KEY}
    if via_make:
        args = ["make", "-s", "contract", *(f"{k}={v}" for k, v in settings.items())]
        done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    else:
        env = {**os.environ, **settings}
        done = subprocess.run(
            [str(REPO / ".venv/bin/spark-contract")], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
    report_file = directory / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return Run(done.returncode, done.stdout + done.stderr, report, directory)


def run_against(app: Any, directory: Path, *, via_make: bool = True, **variables: str) -> Run:
    with serve(app, free_port()) as url:
        return contract(url, directory, via_make=via_make, **{"PROFILE": "smoke", "POLL_INTERVAL": "0.05", **variables})


# For each broken variant: the checks that must report it, and every check allowed to report its
# consequences (a variant that answers 200 breaks every create, a missing id breaks the lifecycle...).
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "prompt-2001": ({"create.rejects-invalid"}, set()),
    "seed-out-of-range": ({"create.rejects-invalid"}, {"schemathesis.ST201"}),
    "duration-7": ({"create.rejects-invalid"}, {"schemathesis.ST201"}),
    "answers-200": ({"response.status-documented"}, {"schemathesis.ST103"}),
    "drops-task-id": ({"response.schema", "lifecycle.id"}, {"schemathesis.ST108"}),
    "non-uuid-id": ({"response.schema", "lifecycle.id"}, {"schemathesis.ST108"}),
    "unknown-status-word": ({"lifecycle.status-word", "response.schema"}, {"schemathesis.ST108"}),
    "leaves-terminal-state": ({"lifecycle.terminal-final"}, {"lifecycle.finishes"}),
    "never-finishes": ({"lifecycle.finishes"}, set()),
    "drops-videos": ({"lifecycle.videos-iff-succeeded", "response.schema"}, {"schemathesis.ST108"}),
    "no-auth": ({"auth.required"}, {"schemathesis.ST201"}),
    "500-on-non-ascii": ({"server-error"}, {"create.accepts-valid", "create.rejects-invalid", "schemathesis.ST101"}),
    "wrong-content-type": ({"response.content-type"}, {"schemathesis.ST105"}),
    "bad-images-succeed": ({"images.no-video-for-invalid-image"}, {"schemathesis.ST201"}),
}
# What each variant's violations must say, so that "failed" means "failed for this reason".
WORDS = {
    "prompt-2001": "prompt of 2001",
    "seed-out-of-range": "seed",
    "duration-7": "duration = 7",
    "answers-200": "status 200",
    "drops-task-id": "'id' is a required property",
    "non-uuid-id": "is not a 'uuid'",
    "unknown-status-word": "'generating'",
    "leaves-terminal-state": "left its terminal status",
    "never-finishes": "did not finish within TASK_TIMEOUT=3 s",
    "drops-videos": "videos",
    "no-auth": "was not refused with 401",
    "500-on-non-ascii": "The target answered 500",
    "wrong-content-type": "text/plain",
    "bad-images-succeed": "An invalid image produced a video",
}


# The broken variants' runs are independent, and each spends part of its time waiting on its target:
# two at once take about half as long as one after the other, on two cores.
AT_ONCE = 2


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    def one(variant: str) -> Run:
        return run_against(build(variant), tmp_path_factory.mktemp(variant), TASK_TIMEOUT="3")

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return dict(zip(EXPECTED, pool.map(one, EXPECTED), strict=True))


@pytest.mark.parametrize("variant", list(EXPECTED))
def test_the_suites_fail_against_a_broken_target_for_the_right_reason(
    variant: str, broken_runs: dict[str, Run]
) -> None:
    run = broken_runs[variant]
    tmp_path = run.directory
    must, may = EXPECTED[variant]
    assert run.code != 0, run.output[-3000:]
    assert run.report["verdict"] == "FAILED"
    assert must <= run.checks, f"{variant}: expected {must}, the report has {run.checks}"
    assert run.checks <= must | may, f"{variant}: unexpected checks {run.checks - must - may}"
    texts = [json.dumps(v) for v in run.report["violations"] if v["check"] in must]
    assert any(WORDS[variant] in text for text in texts), f"{variant}: no violation says {WORDS[variant]!r}"
    assert KEY not in run.output and KEY not in (tmp_path / "report.md").read_text()
    assert KEY not in (tmp_path / "junit.xml").read_text()


def test_the_report_shows_the_request_what_was_expected_and_what_came_back(tmp_path: Path) -> None:
    run = run_against(build("prompt-2001"), tmp_path)
    violation = next(v for v in run.report["violations"] if "2001 characters" in v["title"])
    assert violation["request"].startswith("curl -X POST http://127.0.0.1:")
    assert "'Authorization: Bearer ***'" in violation["request"]
    assert '"prompt": "' in violation["request"] and "(2001 characters)" in violation["request"]
    assert "a 400 error in the documented shape" in violation["expected"]
    assert violation["actual"].startswith("202 Accepted")
    markdown = (tmp_path / "report.md").read_text()
    assert "**FAILED**" in markdown and "```sh\ncurl -X POST" in markdown and "Expected:" in markdown
    for words in ("[create.rejects-invalid]", "Request:", "Expected:", "Got:", "202 Accepted"):
        assert words in run.output
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    failures = junit.findall(".//testcase/failure")
    assert failures and any("2001" in (f.get("message") or "") + (f.text or "") for f in failures)


def test_the_suites_pass_against_the_real_mock_with_the_default_profile(tmp_path: Path) -> None:
    # Strict: the mock keeps the contract's own reading of every rule, so it shows no deviation either.
    run = contract(None, tmp_path, STRICT="1")
    assert run.code == 0, run.output[-3000:]
    report = run.report
    assert report["verdict"] == "PASSED" and not report["violations"] and report["strict"] is True
    assert report["profile"] == "default" and report["tests"]["passed"] > 100
    assert report["duration_seconds"] < 60
    assert (tmp_path / "junit.xml").exists()
    assert "Contract run against the bundled mock" in run.output
    assert "[100%]" in run.output  # every test's result reached the progress line
    cases = ElementTree.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    ids = [f"{case.get('classname')}::{case.get('name')}" for case in cases]
    assert len(ids) == len(set(ids)), "two tests share an id"  # each Schemathesis operation has its own
    assert "test_valid_cases_are_accepted_and_conform[POST /vendors/" in "\n".join(ids)


@pytest.mark.parametrize("variant", ["bad-images-fail-later", "other-readings-and-failures"])
def test_what_the_contract_allows_passes(variant: str, tmp_path: Path) -> None:
    """A bad image accepted and then failed; the legacy words, a top-level error, microsecond
    timestamps, and every task failing: all within the contract."""
    run = run_against(build(variant), tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert run.report["verdict"] == "PASSED"


def test_a_rate_limit_is_no_verdict_on_a_request(tmp_path: Path) -> None:
    """A 429 to an invalid request is not a refusal of its content, nor a 429 to a valid one a refusal."""
    run = run_against(build("rate-limits-every-create"), tmp_path)
    assert run.code != 0 and run.report["verdict"] == "FAILED"
    assert not run.checks & {"create.rejects-invalid", "create.accepts-valid"}
    errors = [e["message"] for e in run.report["errors"]]
    assert any("answered 429 (rate refused), so it did not judge the request" in m for m in errors), errors
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    passed = {f"{case.get('classname')}::{case.get('name')}" for case in junit.iter("testcase") if not list(case)}
    # Only what needs no create may pass: polls of unknown ids (Schemathesis' poll operation among them).
    poll = "[GET /vendors/mulerouter/v1/wan2.6-i2v-spark/generation/{task_id}]"
    assert passed <= {
        "test_lifecycle::test_an_unknown_task_is_404",
        f"test_schemathesis::test_valid_cases_are_accepted_and_conform{poll}",
        f"test_schemathesis::test_invalid_cases_are_refused_and_conform{poll}",
    }
    assert any(
        e["test"].startswith("test_schemathesis.py::test_valid_cases_are_accepted_and_conform")
        for e in run.report["errors"]
    )


def test_max_tasks_stops_the_run_before_the_cap_is_passed(tmp_path: Path) -> None:
    app = create_app(Settings(speed=SPEED))
    run = run_against(app, tmp_path, via_make=False, MAX_TASKS="5")
    assert run.code == 3, run.output[-2000:]  # no violation, but the budget stopped the run
    assert run.report["verdict"] == "INCOMPLETE"
    assert run.report["tasks_accepted"] == 5 and run.report["creates_refused_by_budget"] > 0
    assert len(app.state.store) == 5  # what the target itself accepted
    assert "The task budget stopped the run: MAX_TASKS=5" in run.output
    assert any("MAX_TASKS=5" in s["reason"] for s in run.report["skipped"])


def test_max_tasks_also_counts_requests_that_should_have_been_rejected(tmp_path: Path) -> None:
    app = build("no-auth")  # accepts creates that the contract says must be refused
    # The smoke plan's first parts: 2 lifecycle tasks, 12 valid images, then the auth suite's 2.
    run = run_against(app, tmp_path, via_make=False, MAX_TASKS="16")
    assert run.code == 1
    assert run.report["tasks_accepted"] <= 16
    assert run.report["tasks_accepted_unexpectedly"] >= 1
    assert "by requests that should have been rejected" in (tmp_path / "report.md").read_text()


def test_a_target_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/spark-contract"), "--base-url", "http://127.0.0.1:9", "--report-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "API_KEY is not set" in done.stderr
    assert not (tmp_path / "report.json").exists()


def test_an_unreachable_target_cannot_pass(tmp_path: Path) -> None:
    run = contract(f"http://127.0.0.1:{free_port()}", tmp_path, via_make=False, PROFILE="smoke")
    assert run.code == 1 and run.report["verdict"] == "FAILED"
    assert any("the target did not answer" in e["message"] for e in run.report["errors"])
