"""Live runs, against local stand-ins of the paid API: the spend guard, the reports, secrets, drift."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract_tests.live.plan import build_plan, follow_readings
from mockserver import Settings, create_app
from mockserver.launcher import free_port
from sparkspec.openapi import ApiSpec
from tests.helpers import REPO, serve
from tests.stand_ins.differing import KEY, LosesCreates, differing, docs_like
from tests.stand_ins.docs_only import docs_stand_in

pytestmark = pytest.mark.socket
PLAN = [probe.id for probe in build_plan(ApiSpec.load())]
SEED_PAST_RANGE = next(p for p in PLAN if p.startswith("reject.seed-2147483648"))
PRICE = 0.05
FAST = {"RATE": "500", "POLL_INTERVAL": "0.02", "TASK_TIMEOUT": "20"}


@dataclass
class LiveRun:
    code: int
    stdout: str
    stderr: str
    directory: Path

    @property
    def report(self) -> dict[str, Any]:
        return dict(json.loads((self.directory / "report.json").read_text()))

    @property
    def audit(self) -> list[dict[str, Any]]:
        path = self.directory / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def answer(self, number: str) -> dict[str, Any]:
        return next(a for a in self.report["open_questions"] if a["number"] == number)

    def checks(self, verdict: str) -> list[dict[str, Any]]:
        return [c for c in self.report["checks"] if c["verdict"] == verdict]


def live(directory: Path, *, via_make: bool = False, key: str | None = KEY, **variables: str) -> LiveRun:
    env = {k: v for k, v in os.environ.items() if k not in ("MULEROUTER_API_KEY", "ALLOW_SPEND", "BASE_URL")}
    env |= {"REPORT_DIR": str(directory), **FAST, **variables}
    if key is not None:
        env["MULEROUTER_API_KEY"] = key
    command = ["make", "-s", "live"] if via_make else [str(REPO / ".venv/bin/spark-live")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return LiveRun(done.returncode, done.stdout, done.stderr, directory)


@pytest.fixture
def docs_target() -> Iterator[tuple[str, Any]]:
    app = docs_like()
    with serve(app, free_port()) as url:
        yield url, app


@pytest.fixture
def differing_target() -> Iterator[tuple[str, Any, Any]]:
    outer, inner = differing()
    with serve(outer, free_port()) as url:
        yield url, outer, inner


def test_without_a_key_the_run_stops_at_once(tmp_path: Path) -> None:
    run = live(tmp_path, via_make=True, key=None)
    assert run.code != 0
    assert "MULEROUTER_API_KEY is not set" in run.stderr + run.stdout
    assert not (tmp_path / "report.json").exists()


def test_a_dry_run_prints_the_plan_and_the_worst_case_and_sends_nothing(
    tmp_path: Path, docs_target: tuple[str, Any]
) -> None:
    url, app = docs_target
    run = live(tmp_path, via_make=True, BASE_URL=url, DRY_RUN="1", ALLOW_SPEND="0.50")
    assert run.code == 0, run.stderr
    assert app.state.journal.total == 0  # not one request reached the target
    assert "Dry run: nothing is sent." in run.stdout
    assert "prompt of 2001 characters" in run.stdout and "free if refused; $0.25 if wrongly accepted" in run.stdout
    assert "PAID $0.25" in run.stdout and "not sent: needs $0.25, $0.00 of ALLOW_SPEND left" in run.stdout
    assert "Planned spend: $0.50 on 2 paid generations." in run.stdout
    assert "Worst-case total, whatever the target answers: $0.75." in run.stdout


def test_by_default_a_run_spends_nothing(tmp_path: Path, docs_target: tuple[str, Any]) -> None:
    url, app = docs_target
    run = live(tmp_path, via_make=True, BASE_URL=url)
    assert run.code == 0, run.stdout[-3000:]
    assert len(app.state.store) == 0  # the target accepted no task: nothing was billed
    report = run.report
    assert report["verdict"] == "PASSED" and report["spent_usd"] == 0
    assert len(run.checks("pass")) > 80
    skipped = {c["probe"] for c in run.checks("skipped")}
    paid = {"paid.basic-example", "paid.raw-base64-image", "paid.image-too-small", "paid.multi-shots-spelling"}
    # Each probe whose refusal the docs do not state is priced like a generation: none is sent without an opt-in.
    assert paid <= skipped and {p.removeprefix("open.").split("-")[0] for p in skipped - paid} >= {
        "last",
        "shot",
        "multi",
        "audio",
    }
    assert all(p.startswith("open.") for p in skipped - paid)
    assert run.answer("3")["answer"].startswith("{detail: string, error_code: integer, title: string}")
    assert run.answer("1")["answer"].startswith("not observed: it takes a paid generation")
    for name in ("report.md", "report.html", "junit.xml", "report.json"):
        assert (tmp_path / name).stat().st_size > 1000
    probes = re.search(r"spark-live: (\d+) probes", run.stdout)
    assert probes and f"[  1/{probes[1]}]" in run.stdout  # progress, probe by probe


def test_paid_generations_stay_within_allow_spend(tmp_path: Path, docs_target: tuple[str, Any]) -> None:
    url, app = docs_target
    run = live(tmp_path, BASE_URL=url, ALLOW_SPEND="0.60")
    assert run.code == 0, run.stdout[-3000:]
    assert len(app.state.store) == 2  # what the target itself accepted
    assert run.report["spent_usd"] == pytest.approx(0.50)
    audit = run.audit
    assert [a["probe"] for a in audit] == ["paid.basic-example", "paid.raw-base64-image"]
    assert all(app.state.store.get(a["task_id"]) is not None and a["cost_usd"] == 0.25 for a in audit)
    skipped = {c["probe"]: c["note"] for c in run.checks("skipped")}
    assert "this generation would cost $0.25, and $0.10 of ALLOW_SPEND=$0.60 is left" in skipped["paid.image-too-small"]
    assert run.answer("1")["answer"].startswith("the guide vocabulary")
    assert "raw Base64: accepted" in run.answer("7")["answer"]


def test_allow_tasks_limits_paid_generations_by_number(tmp_path: Path, docs_target: tuple[str, Any]) -> None:
    url, app = docs_target
    run = live(tmp_path, BASE_URL=url, ALLOW_SPEND="10", ALLOW_TASKS="1")
    assert run.code == 0 and len(app.state.store) == 1 and len(run.audit) == 1


def test_allow_tasks_alone_enables_paid_generations(tmp_path: Path, docs_target: tuple[str, Any]) -> None:
    url, app = docs_target
    dry = live(tmp_path / "dry", BASE_URL=url, ALLOW_TASKS="1", DRY_RUN="1")
    assert "ALLOW_SPEND=no limit, ALLOW_TASKS=1" in dry.stdout
    assert dry.stdout.count("PAID $0.25") == 1 and "not sent: ALLOW_TASKS=1 reached" in dry.stdout
    run = live(tmp_path / "run", BASE_URL=url, ALLOW_TASKS="1")
    assert run.code == 0 and len(app.state.store) == 1 and len(run.audit) == 1
    skipped = {c["probe"]: c["note"] for c in run.checks("skipped")}
    assert "ALLOW_TASKS=1 paid generations were made already" in skipped["paid.raw-base64-image"]


def test_creates_whose_answers_are_lost_are_counted_and_never_sent_twice(tmp_path: Path) -> None:
    inner = docs_like()
    lossy = LosesCreates(inner)
    cassette = tmp_path / "cassette.json"
    with serve(lossy, free_port()) as url:
        run = live(tmp_path, BASE_URL=url, ALLOW_SPEND="0.50", RECORD=str(cassette))
    # Every accepted create's answer was lost: the run cannot know it made a task, so it counts each.
    assert len(inner.state.store) == lossy.lost == 2  # what the target really made: within the cap
    report = run.report
    assert report["spent_usd"] == pytest.approx(0.50) and report["unknown_outcome_creates"] == 2
    assert [(a["outcome"], a["status"], a["task_id"]) for a in run.audit] == [("unknown", 502, None)] * 2
    assert "may have been billed" in {c["probe"]: c["note"] for c in run.checks("skipped")}["paid.image-too-small"]
    assert report["retries"]["server_errors"] == 2 and report["retries"]["retries"] == 0
    # Drift: a lost answer says how the target was that day, not what it is; it is not a difference.
    drift = _drift(tmp_path / "drift", cassette)
    assert drift.returncode == 0, drift.stdout
    replayed = json.loads((tmp_path / "drift" / "drift.json").read_text())
    assert not replayed["differences"]
    assert [(u["probe"], u["recorded_status"]) for u in replayed["not_comparable"]] == [
        ("paid.basic-example", 502),
        ("paid.raw-base64-image", 502),
    ]
    assert "## Not comparable" in (tmp_path / "drift" / "drift.md").read_text()


def test_a_short_key_works_and_is_masked_in_headers(tmp_path: Path) -> None:
    app = create_app(Settings(speed=1000.0, api_keys=frozenset({"k"})))
    with serve(app, free_port()) as url:
        run = live(tmp_path, key="k", BASE_URL=url, RECORD=str(tmp_path / "cassette.json"))
    assert run.code == 0, run.stdout[-3000:]  # a one-letter key is not masked inside bodies, so nothing is mangled
    recorded = (tmp_path / "cassette.json").read_text()
    assert "Bearer ***" in recorded and "Bearer k" not in recorded


def test_a_key_that_cannot_be_a_bearer_token_is_refused(tmp_path: Path) -> None:
    run = live(tmp_path, key="sk-with a space\x01")
    assert run.code == 2 and "printable ASCII without spaces" in run.stderr
    assert "sk-with" not in run.stderr


def test_against_a_differing_target_the_report_names_each_difference(
    tmp_path: Path, differing_target: tuple[str, Any, Any]
) -> None:
    url, outer, inner = differing_target
    cap = 1.00
    run = live(tmp_path, BASE_URL=url, ALLOW_SPEND=str(cap))
    assert run.code == 1
    report = run.report
    # seed = 2147483648 is past the documented range; this target accepted it: a violation, and money spent.
    failed = {c["probe"]: c for c in run.checks("fail")}
    assert SEED_PAST_RANGE in failed
    accident = next(a for a in run.audit if a["meant_to_be_rejected"])
    assert accident["probe"] == SEED_PAST_RANGE and accident["cost_usd"] == 0.25
    assert report["accepted_should_be_rejected"] == 1
    # The spend guard: never past the cap, by our count and by what the target itself accepted.
    assert report["spent_usd"] <= cap
    assert len(inner.state.store) * 5 * PRICE <= cap
    assert len(inner.state.store) == report["tasks_accepted"] == len(run.audit)
    # What the report answers by observation.
    assert run.answer("1")["answer"].startswith("the legacy vocabulary")
    assert run.answer("1")["follow"] == {"MOCK_VOCABULARY": "legacy"}
    assert run.answer("2")["answer"].startswith("top-level error")
    assert run.answer("2")["follow"] == {"MOCK_ERROR_PLACEMENT": "top_level"}
    assert run.answer("11")["follow"] == {"MOCK_TIMESTAMPS": "micro"}
    # multi_shots = "triple" is refused only by a disputed reading: a paid probe, not sent once the money is spent.
    assert {c["probe"] for c in run.checks("skipped")} >= {p for p in PLAN if p.startswith("open.multi-shots")}
    assert "a too-small image was accepted and the task ended failed" in run.answer("7")["answer"]
    # Rate limits and server errors were retried, within bounds, honouring Retry-After.
    assert outer.answered_429 >= 1 and outer.answered_503 >= 1
    retries = report["retries"]
    assert retries["rate_limited"] == outer.answered_429 and retries["server_errors"] == outer.answered_503
    assert set(retries["retry_after_values"]) == {"1"} and retries["waited_seconds"] >= outer.answered_429
    assert "Retry-After: 1" in run.answer("4")["answer"]
    assert not run.checks("error")


def test_the_key_appears_nowhere(tmp_path: Path, differing_target: tuple[str, Any, Any]) -> None:
    url, _, _ = differing_target
    cassette = tmp_path / "cassette.json"
    run = live(tmp_path, BASE_URL=url, ALLOW_SPEND="1", RECORD=str(cassette))
    assert run.code == 1
    outputs = {"stdout": run.stdout, "stderr": run.stderr}
    outputs |= {path.name: path.read_text() for path in tmp_path.iterdir() if path.is_file()}
    assert {"report.md", "report.html", "junit.xml", "report.json", "audit.jsonl", "cassette.json"} <= set(outputs)
    for name, text in outputs.items():
        assert KEY not in text, f"the key leaked into {name}"
        assert KEY[6:20] not in text, f"part of the key leaked into {name}"
    assert "Bearer ***" in outputs["cassette.json"]


def test_an_unexpected_error_does_not_carry_the_key_out(tmp_path: Path) -> None:
    run = live(tmp_path, BASE_URL=f"http://127.0.0.1:{free_port()}", MAX_RETRIES="0")
    assert run.code == 1
    assert KEY not in run.stdout + run.stderr
    assert "the target did not answer" in run.stdout


def test_drift_shows_how_the_mock_differs_from_a_recording(
    tmp_path: Path, differing_target: tuple[str, Any, Any]
) -> None:
    url, _, _ = differing_target
    cassette = tmp_path / "recording.json"
    live(tmp_path / "live", BASE_URL=url, ALLOW_SPEND="1", RECORD=str(cassette))
    recorded = json.loads(cassette.read_text())
    assert recorded["format"] == "wan-spark-cassette/1" and len(recorded["interactions"]) > 100
    assert any(i["attempt"] > 0 for i in recorded["interactions"])  # the retries are in the recording too

    drift = _drift(tmp_path / "drift", cassette)
    assert drift.returncode != 0
    report = json.loads((tmp_path / "drift" / "drift.json").read_text())
    aspects = {d["aspect"] for d in report["differences"]}
    assert {"status word", "body shape", "status"} <= aspects
    words = {(d["recorded"], d["mock"]) for d in report["differences"] if d["aspect"] == "status word"}
    assert ("pending", "queued") in words and ("completed", "succeeded") in words
    statuses = {(d["probe"], d["recorded"], d["mock"]) for d in report["differences"] if d["aspect"] == "status"}
    assert (SEED_PAST_RANGE, "202", "400") in statuses
    assert report["follow"] == {
        "MOCK_ERROR_PLACEMENT": "top_level",
        "MOCK_TIMESTAMPS": "micro",
        "MOCK_VOCABULARY": "legacy",
    }
    assert "To follow the recording: MOCK_ERROR_PLACEMENT=top_level" in drift.stdout

    followed = _drift(tmp_path / "followed", cassette, FOLLOW="1")
    after = json.loads((tmp_path / "followed" / "drift.json").read_text())
    assert after["settings"]["MOCK_VOCABULARY"] == "legacy"
    lost = {d["probe"] for d in report["differences"] if d["aspect"] == "task"}
    assert len(lost) == 2  # seed = 2147483648, and the too-small image: the mock refuses both at create
    refused = {SEED_PAST_RANGE, "paid.image-too-small"}
    followed_now = [d for d in after["differences"] if d["probe"] not in refused | lost]
    assert not followed_now, followed_now  # every other task now reads the same: words, shapes, sequences
    assert len(after["differences"]) < len(report["differences"])
    assert followed.returncode != 0  # what no setting can follow remains: seed = 2147483648 accepted


def test_drift_of_a_recording_of_the_mock_itself_is_nil(tmp_path: Path, docs_target: tuple[str, Any]) -> None:
    url, _ = docs_target
    cassette = tmp_path / "recording.json"
    assert live(tmp_path / "live", BASE_URL=url, ALLOW_SPEND="1", RECORD=str(cassette)).code == 0
    drift = _drift(tmp_path / "drift", cassette)
    assert drift.returncode == 0, drift.stdout
    assert "0 differences" in drift.stdout


def test_drift_refuses_a_file_that_is_not_a_cassette(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    done = subprocess.run([str(REPO / ".venv/bin/spark-drift"), str(bogus)], capture_output=True, text=True)
    assert done.returncode == 2 and "is not a wan-spark-cassette/1 cassette" in done.stderr


def _drift(directory: Path, cassette: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_")} | {"REPORT_DIR": str(directory)}
    return subprocess.run(
        ["make", "-s", "drift", f"CASSETTE={cassette}", *(f"{k}={v}" for k, v in variables.items())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_target_that_follows_the_docs_gets_no_task_without_an_opt_in(tmp_path: Path) -> None:
    """The independent docs-only stand-in accepts `null` in optional fields, any multi_shots, long URLs...:
    probes whose refusal the docs do not state are priced like generations, so none is sent without
    ALLOW_SPEND or ALLOW_TASKS, and none of its answers is a failure."""
    app = docs_stand_in(KEY)
    with serve(app, free_port()) as url:
        run = live(tmp_path / "default", BASE_URL=url)
        strict = live(tmp_path / "strict", BASE_URL=url, STRICT="1")
    assert run.code == 0, run.stdout[-3000:]
    assert len(app.tasks) == 0  # not one task accepted: nothing billed
    report = run.report
    assert report["verdict"] == "PASSED" and report["tasks_accepted"] == 0 and not run.checks("fail")
    deviations = run.checks("deviation")
    assert deviations and all(v["kind"] == "deviation" for c in deviations for v in c["violations"])
    assert "Deviations: where the target reads the docs another way" in (tmp_path / "default" / "report.md").read_text()
    assert strict.code == 1 and strict.report["verdict"] == "FAILED" and len(app.tasks) == 0


def test_the_answers_to_open_rules_name_the_settings_that_follow_them() -> None:
    probes = {probe.id: probe for probe in build_plan(ApiSpec.load())}
    nulls = [p for p in probes.values() if p.provenance is not None and p.provenance.setting == "MOCK_NULLS"]
    shots = [p for p in probes.values() if p.id.startswith(("open.shot-type", "open.multi-shots"))]
    assert nulls and shots and all(not p.documented and p.paid and not p.meant_to_be_rejected for p in nulls + shots)
    # A target that reads null as absent, validates shot_type and ignores multi_shots:
    outcomes = [(p, 202) for p in nulls] + [(p, 400 if p.id.startswith("open.shot-type") else 202) for p in shots]
    assert follow_readings(outcomes) == {"MOCK_NULLS": "absent", "MOCK_SHOT_FIELD": "shot_type"}
    # One that refuses null somewhere, and validates both spellings: nothing to follow.
    assert follow_readings([(nulls[0], 400), *((p, 202) for p in nulls[1:]), *((p, 400) for p in shots)]) == {}
