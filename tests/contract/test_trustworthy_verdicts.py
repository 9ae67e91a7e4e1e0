"""Verdicts you can trust, shown through `spark-contract` as a user runs it, with the default profile.

- A target written only from the docs, which takes other readings where the docs are silent (tests/
  stand_ins/docs_only.py), passes with no violation; what it reads otherwise is listed as deviations, and
  `STRICT=1` fails it.
- Broken targets fail (exit 1) for their own reason: a 500 on non-ASCII text under `MAX_TASKS=30`, a
  terminal status that reverts when the task finished near the deadline, a target that accepts every
  image, one that accepts every request, one that never finishes a task; each run ends within 120 s.

The runs are independent and mostly wait on polls (5 s apart against a target other than the bundled
mock), so they are started together and the tests read their results.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockserver.launcher import free_port
from tests.helpers import REPO, serve
from tests.stand_ins.broken import build
from tests.stand_ins.docs_only import docs_stand_in

pytestmark = pytest.mark.socket
KEY = "sk-mr-verdicts-test-5b1e0c77d2"
BOUND_SECONDS = 120


@dataclass
class Run:
    code: int
    output: str
    report: dict[str, Any]
    seconds: float
    tasks: int

    @property
    def checks(self) -> set[str]:
        return {v["check"] for v in self.report.get("violations", [])}

    def deviation(self, words: str) -> bool:
        return any(words in d["title"] for d in self.report.get("deviations", []))


# name: (target, settings of the run)
RUNS: dict[str, tuple[str, dict[str, str]]] = {
    "docs-only": ("docs-only", {}),
    "docs-only-strict": ("docs-only", {"STRICT": "1", "PROFILE": "smoke", "POLL_INTERVAL": "0.2"}),
    "500-on-non-ascii": ("500-on-non-ascii", {"MAX_TASKS": "30"}),
    "reverts-near-the-deadline": ("reverts-near-the-deadline", {"TASK_TIMEOUT": "10"}),
    "accepts-every-image": ("bad-images-succeed", {"TASK_TIMEOUT": "10"}),
    "accepts-everything": ("accepts-everything", {"TASK_TIMEOUT": "10"}),
    "never-finishes": ("never-finishes", {"TASK_TIMEOUT": "10"}),
}


def _target(name: str) -> tuple[Any, Any]:
    if name == "docs-only":
        stand_in = docs_stand_in(KEY)
        return stand_in, stand_in
    return build(name), None


def _contract(url: str, directory: Path, settings: dict[str, str]) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("STRICT", "MAX_TASKS", "PROFILE", "POLL_INTERVAL")}
    env |= {"BASE_URL": url, "API_KEY": KEY, "REPORT_DIR": str(directory), **settings}
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO / ".venv/bin/spark-contract")], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    with ExitStack() as stack:
        started = {}
        for name, (target, settings) in RUNS.items():
            app, stand_in = _target(target)
            url = stack.enter_context(serve(app, free_port()))
            started[name] = (url, tmp_path_factory.mktemp(name), settings, stand_in)
        with ThreadPoolExecutor(len(started)) as pool:
            futures = {name: pool.submit(_contract, url, d, s) for name, (url, d, s, _) in started.items()}
            results = {}
            for name, future in futures.items():
                code, output, seconds = future.result()
                directory, stand_in = started[name][1], started[name][3]
                report_file = directory / "report.json"
                report = json.loads(report_file.read_text()) if report_file.exists() else {}
                tasks = len(stand_in.tasks) if stand_in is not None else -1
                results[name] = Run(code, output, report, seconds, tasks)
        yield results


def test_a_target_that_follows_the_docs_passes_and_its_other_readings_are_listed(runs: dict[str, Run]) -> None:
    run = runs["docs-only"]
    assert run.code == 0, run.output[-3000:]
    assert run.report["verdict"] == "PASSED" and run.report["violations"] == []
    # Each reading it takes where the docs are silent or disagree, reported with the docs' words.
    for words in (
        "negative_prompt = null",
        "last_frame = null",
        "multi_shots outside the enum",
        "audio_url a URL of 8193 characters",
        "JPEG truncated breaks the integrity rule",
        "PNG with an opaque alpha channel",
        "PNG of exactly 10485760 bytes",
        "'detail' is a required property",
    ):
        assert run.deviation(words), f"no deviation says {words!r}"
    assert all(d["kind"] == "deviation" and d["docs"] for d in run.report["deviations"])
    assert "Deviations: " in run.output and "STRICT=1 makes them fail" in run.output
    # The plan held: what the target accepted fits in the default MAX_TASKS, with room to spare.
    assert run.report["tasks_accepted"] == run.tasks < 0.8 * run.report["max_tasks"]
    assert run.report["creates_refused_by_budget"] == 0 and not run.report["skipped"]


def test_strict_turns_the_deviations_into_violations(runs: dict[str, Run]) -> None:
    run = runs["docs-only-strict"]
    assert run.code == 1 and run.report["verdict"] == "FAILED" and run.report["strict"] is True
    assert any(v["kind"] == "deviation" and v["basis"] == "assumed" for v in run.report["violations"])
    assert run.report["deviations"] == []


@pytest.mark.parametrize(
    ("name", "check", "words"),
    [
        ("500-on-non-ascii", "server-error", "The target answered 500"),
        ("reverts-near-the-deadline", "lifecycle.terminal-final", "left its terminal status"),
        ("accepts-every-image", "images.no-video-for-invalid-image", "An invalid image produced a video"),
        ("accepts-everything", "create.rejects-invalid", "An invalid request was accepted"),
        ("never-finishes", "lifecycle.finishes", "did not finish within TASK_TIMEOUT=10 s"),
    ],
)
def test_a_broken_target_fails_for_its_own_reason_within_the_bound(
    runs: dict[str, Run], name: str, check: str, words: str
) -> None:
    run = runs[name]
    assert run.code == 1, run.output[-3000:]
    assert check in run.checks, run.checks
    assert any(words in v["title"] for v in run.report["violations"] if v["check"] == check)
    assert run.report["duration_seconds"] < BOUND_SECONDS
    if name == "500-on-non-ascii":
        # Every 500 counts as a task that may exist; the run stops at MAX_TASKS, and the failure is kept.
        assert run.report["tasks_accepted"] <= 30


def test_the_plan_is_printed_before_anything_is_sent() -> None:
    done = subprocess.run(
        [str(REPO / ".venv/bin/spark-contract"), "--plan", "--base-url", "http://127.0.0.1:9"],
        cwd=REPO,
        env={"PATH": os.environ["PATH"]},  # nothing is sent, so no key is needed
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Task plan (MAX_TASKS=200)" in done.stdout
    for share in ("lifecycle", "images.valid", "images.invalid", "constraints.valid", "constraints.undocumented"):
        assert f"  {share} " in done.stdout
    spare = int(done.stdout.split(" of MAX_TASKS to spare")[0].rsplit(" ", 1)[-1])
    assert spare >= 20
