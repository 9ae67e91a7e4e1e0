"""The spend guard, the cost model, pacing and retries, the plan and the cassette format, one piece at a time."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.budget import BudgetExhausted
from contract_tests.live.cassette import LONG_STRING, Recorder, final_attempts, load, redact_body
from contract_tests.live.pacing import PacedTarget
from contract_tests.live.plan import build_plan
from contract_tests.live.spend import AuditLog, CostModel, SpendBound, SpendGuard
from contract_tests.target import TargetUnreachable
from sparkspec.openapi import ApiSpec

SPEC = ApiSpec.load()
COST = CostModel.from_spec(SPEC, 0.05)
CREATED = json.dumps({"task_info": {"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}}).encode()


def body(duration: object = 5) -> bytes:
    return json.dumps({"prompt": "a", "image": "https://x.y/z.png", "duration": duration}).encode()


def test_the_cost_model_reads_its_durations_from_the_spec() -> None:
    assert COST.durations == (5, 10, 15) and COST.default_duration == 5
    assert COST.cost(body(10)) == pytest.approx(0.50)
    assert COST.cost(json.dumps({"prompt": "a"}).encode()) == pytest.approx(0.25)  # the spec's default duration
    for invalid in (7, "5", True, None, 99):  # an invalid duration is priced as the longest valid one
        assert COST.cost(body(invalid)) == pytest.approx(0.75)
    assert COST.cost(b"not json") == pytest.approx(0.25)


@settings(max_examples=300, deadline=None)
@given(
    cap=st.sampled_from([0.0, 0.25, 0.5, 0.6, 1.0, 2.0]),
    creates=st.lists(
        st.tuples(st.booleans(), st.sampled_from([5, 10, 15, 7]), st.sampled_from([202, 200, 400, 429, 500])),
        max_size=40,
    ),
)
def test_the_guard_never_spends_past_its_bound(cap: float, creates: list[tuple[bool, object, int]]) -> None:
    """Whatever the order of the creates and whatever the target answers, the run spends at most the cap,
    or one wrongly accepted request when that costs more."""
    guard = SpendGuard(cap, COST)
    worst_accident = max(COST.cost(body(d)) for _, d, _ in creates) if creates else 0.0
    for must_reject, duration, status in creates:
        content = body(duration)
        try:
            guard.before_create(content, meant_to_be_rejected=must_reject)
        except BudgetExhausted:
            continue
        guard.after_create(status, content, CREATED, meant_to_be_rejected=must_reject)
    assert guard.accidents <= 1
    assert guard.spent <= max(cap, worst_accident) + 1e-9


@settings(max_examples=300, deadline=None)
@given(
    cap=st.sampled_from([0.0, 0.25, 0.6, 1.0, math.inf]),
    max_tasks=st.sampled_from([None, 0, 1, 3]),
    max_accidents=st.integers(0, 3),
    answers=st.lists(st.sampled_from([202, 400, 429, 500, 503, 0]), min_size=1, max_size=200),
)
def test_the_dry_runs_bound_holds_whatever_the_target_answers(
    cap: float, max_tasks: int | None, max_accidents: int, answers: list[int]
) -> None:
    """The worst case a dry run prints is never passed, for the real plan, under any answers."""
    if math.isinf(cap) and max_tasks is None:
        max_tasks = 2  # ALLOW_TASKS alone: the configuration that makes the cap infinite
    plan = [p for p in build_plan(SPEC) if p.kind == "create"]
    bound = SpendBound.of(
        [COST.cost(p.content) for p in plan if p.paid],
        [COST.cost(p.content) for p in plan if not p.paid],
        cap=cap,
        max_tasks=max_tasks,
        max_accidents=max_accidents,
    )
    guard = SpendGuard(cap, COST, max_tasks=max_tasks, max_accidents=max_accidents)
    for probe, status in zip(plan, answers * (len(plan) // len(answers) + 1), strict=False):
        try:
            guard.before_create(probe.content, meant_to_be_rejected=not probe.paid)
        except BudgetExhausted:
            continue
        guard.after_create(status, probe.content, CREATED, meant_to_be_rejected=not probe.paid)
    assert guard.spent <= bound.worst_total + 1e-9
    assert guard.accidents <= max_accidents
    if max_tasks is not None:
        assert guard.paid_tasks <= max_tasks


def test_a_create_is_charged_before_it_is_sent_and_refunded_only_when_refused(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = SpendGuard(0.50, COST, audit=audit)
    guard.before_create(body(10), meant_to_be_rejected=False)
    assert guard.spent == pytest.approx(0.50)  # in flight: held
    with pytest.raises(BudgetExhausted):  # so a second create cannot slip in beside it
        guard.before_create(body(5), meant_to_be_rejected=False)
    guard.after_create(429, body(10), b"", meant_to_be_rejected=False)
    assert guard.spent == 0  # a 429 made no task
    guard.before_create(body(5), meant_to_be_rejected=False)
    guard.after_create(503, body(5), b"", meant_to_be_rejected=False)
    assert guard.spent == pytest.approx(0.25) and guard.unknown == 1 and guard.paid_tasks == 1
    with pytest.raises(BudgetExhausted, match="got a 5xx or no answer, which may have been billed"):
        guard.before_create(body(10), meant_to_be_rejected=False)
    audit.close()
    (entry,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert entry["outcome"] == "unknown" and entry["status"] == 503 and entry["task_id"] is None


def test_a_must_reject_create_without_an_answer_counts_towards_max_accidents() -> None:
    guard = SpendGuard(10.0, COST, max_accidents=1)
    guard.before_create(body(7), meant_to_be_rejected=True)
    guard.after_create(0, body(7), b"", meant_to_be_rejected=True)
    assert guard.spent == pytest.approx(0.75) and guard.accidents == 0 and guard.unknown == 1
    with pytest.raises(BudgetExhausted, match="MAX_ACCIDENTS=1"):
        guard.before_create(body(7), meant_to_be_rejected=True)


def test_paid_creates_are_refused_before_they_pass_the_cap_and_logged_when_accepted(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = SpendGuard(0.60, COST, audit=audit)
    guard.probe = "paid.one"
    guard.before_create(body(5), meant_to_be_rejected=False)
    guard.after_create(202, body(5), CREATED, meant_to_be_rejected=False)
    with pytest.raises(BudgetExhausted, match=r"would cost \$0.50, and \$0.35 of ALLOW_SPEND=\$0.60 is left"):
        guard.before_create(body(10), meant_to_be_rejected=False)
    guard.before_create(body(5), meant_to_be_rejected=True)  # must-reject requests are sent even so
    guard.after_create(202, body(5), CREATED, meant_to_be_rejected=True)  # ... and charged when accepted
    with pytest.raises(BudgetExhausted, match="MAX_ACCIDENTS=1: a request that must be rejected was accepted"):
        guard.before_create(body(5), meant_to_be_rejected=True)
    audit.close()
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["probe"], e["cost_usd"], e["meant_to_be_rejected"], e["outcome"]) for e in lines] == [
        ("paid.one", 0.25, False, "accepted"),
        ("paid.one", 0.25, True, "accepted"),
    ]
    assert lines[-1]["spent_usd"] == 0.5 and lines[0]["task_id"] == "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def test_allow_tasks_counts_paid_generations() -> None:
    guard = SpendGuard(100.0, COST, max_tasks=1)
    guard.before_create(body(), meant_to_be_rejected=False)
    guard.after_create(202, body(), CREATED, meant_to_be_rejected=False)
    with pytest.raises(BudgetExhausted, match="ALLOW_TASKS=1"):
        guard.before_create(body(), meant_to_be_rejected=False)


def _paced(answers: list[httpx.Response], sleeps: list[float], max_retries: int) -> PacedTarget:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return PacedTarget(
        "http://api.test",
        "sk-test",
        SpendGuard(10.0, COST),
        SPEC,
        rate=1000.0,
        max_retries=max_retries,
        sleep=sleeps.append,
        seed=1,
        transport=httpx.MockTransport(handler),
    )


def _create_target(handler: Callable[[httpx.Request], httpx.Response], guard: SpendGuard) -> PacedTarget:
    return PacedTarget(
        "http://api.test",
        "sk-test",
        guard,
        SPEC,
        rate=1000.0,
        max_retries=3,
        sleep=lambda _: None,
        seed=1,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize("lost", ["timeout", "503"])
def test_a_create_whose_answer_is_lost_is_sent_once_and_stays_charged(lost: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if lost == "timeout":
            raise httpx.ReadTimeout("the answer never came", request=request)
        return httpx.Response(503)

    guard = SpendGuard(1.0, COST)
    target = _create_target(handler, guard)
    if lost == "timeout":
        with pytest.raises(TargetUnreachable):
            target.create(json.loads(body(10)))
    else:
        assert target.create(json.loads(body(10))).status == 503
    assert len(sent) == 1  # a second send could make a second billed task
    assert guard.spent == pytest.approx(0.50) and guard.unknown == 1
    # A poll is not a create: it is retried as before.
    sent.clear()
    if lost == "timeout":
        with pytest.raises(TargetUnreachable):
            target.poll("x")
    else:
        target.poll("x")
    assert len(sent) == 4


def test_a_create_answered_429_is_retried_and_charged_once() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(202, content=CREATED)]
    guard = SpendGuard(0.25, COST)
    target = _create_target(lambda request: answers.pop(0), guard)
    assert target.create(json.loads(body(5))).status == 202
    assert guard.spent == pytest.approx(0.25) and guard.tasks == 1 and not answers


def test_a_429_is_retried_after_its_retry_after() -> None:
    sleeps: list[float] = []
    target = _paced([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(404)], sleeps, max_retries=3)
    assert target.poll("x").status == 404
    assert [s for s in sleeps if s >= 1] == [7.0]
    assert target.stats.rate_limited == 1 and target.stats.retry_after_values == ["7"]


def test_retry_after_is_kept_between_1_and_120_seconds() -> None:
    sleeps: list[float] = []
    target = _paced(
        [
            httpx.Response(429, headers={"Retry-After": "9999"}),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(404),
        ],
        sleeps,
        max_retries=3,
    )
    target.poll("x")
    assert [s for s in sleeps if s >= 1] == [120.0, 1.0]


def test_5xx_is_retried_with_growing_backoff_and_within_bounds() -> None:
    sleeps: list[float] = []
    target = _paced([httpx.Response(503)] * 4, sleeps, max_retries=3)
    assert target.poll("x").status == 503  # the last answer, judged by the caller
    waits = [s for s in sleeps if s >= 0.1]
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]
    assert target.stats.server_errors == 4 and target.stats.retries == 3


def test_requests_are_paced_to_the_rate() -> None:
    sleeps: list[float] = []
    target = _paced([httpx.Response(404)] * 5, sleeps, max_retries=0)
    target.interval = 0.5
    for _ in range(5):
        target.poll("x")
    assert sum(sleeps) >= 1.5  # five requests at 2 per second take at least two seconds


def test_the_plan_is_the_same_every_time_and_free_probes_come_first() -> None:
    first, second = build_plan(SPEC), build_plan(SPEC)
    assert [(p.id, p.content) for p in first] == [(p.id, p.content) for p in second]
    paid = [n for n, p in enumerate(first) if p.paid]
    assert paid and min(paid) > max(n for n, p in enumerate(first) if not p.paid)
    assert all(p.expect in ("reject", "unauthorized", "not-found") for p in first if not p.paid)


def test_cassettes_keep_no_long_strings_and_no_key(tmp_path: Path) -> None:
    image = "data:image/png;base64," + "A" * 5000
    redacted = redact_body(json.dumps({"image": image, "prompt": "short"}).encode())
    assert redacted["prompt"] == "short"
    assert redacted["image"]["length"] == len(image) and redacted["image"]["$digest"].startswith("sha256:")
    assert len(json.dumps(redacted)) < LONG_STRING * 2

    from contract_tests.target import Exchange

    recorder = Recorder("http://t", "1.0.0", lambda: "probe.a")
    exchange = Exchange(
        "POST", "http://t/x", {"Authorization": "Bearer ***"}, b'{"k": "v"}', 202, {}, b'{"echo": "sk-secret-123"}'
    )
    recorder(exchange, 0)
    recorder(exchange, 1)
    path = recorder.save(tmp_path / "c.json", "sk-secret-123")
    assert "sk-secret-123" not in path.read_text()
    document = load(path)
    assert [i["attempt"] for i in final_attempts(document)] == [1]
