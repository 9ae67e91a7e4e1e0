"""``spark-live`` (a live conformance run) and ``spark-drift`` (a recording against the mock).

The key is read from ``MULEROUTER_API_KEY`` only. Exit codes: 0 the target honours the contract
(or, for drift, no difference), 1 violations (or differences), 2 a usage or configuration error.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from contract_tests.lifecycle import TaskWatcher
from contract_tests.live import drift, drift_report
from contract_tests.live.cassette import Recorder, load
from contract_tests.live.config import LiveConfig, LiveConfigError
from contract_tests.live.live_report import LiveReport, now
from contract_tests.live.observations import answer_questions
from contract_tests.live.pacing import PacedTarget
from contract_tests.live.plan import Probe, build_plan
from contract_tests.live.run import LiveRun
from contract_tests.live.spend import AuditLog, CostModel, SpendBound, SpendGuard, dollars
from contract_tests.verdicts import Verdicts
from mockserver import Settings, SettingsError
from sparkspec.openapi import ApiSpec
from sparkspec.redaction import mask
from sparkspec.resources import command_parser


def live_main(argv: Sequence[str] | None = None) -> int:
    """Run the live plan against the target (or print it, with ``--dry-run``)."""
    parser = command_parser(
        "spark-live",
        "A live conformance run under a spend guard. The key is read from MULEROUTER_API_KEY only.",
        "0  the target keeps every documented rule (deviations are listed, not failures, unless STRICT=1)\n"
        "1  violations\n2  a usage or configuration error (no key, a bad value)",
    )
    parser.add_argument("--dry-run", action="store_true", default=None, help="print the plan; send nothing")
    parser.add_argument("--base-url", help="the API (default https://api.mulerouter.ai)")
    parser.add_argument("--allow-spend", type=float, help="dollars the run may spend on paid generations")
    parser.add_argument("--allow-tasks", type=int, help="paid generations the run may create")
    parser.add_argument("--price", type=float, help="dollars per second of output video")
    parser.add_argument("--record", nargs="?", const="1", help="record a cassette (to a file or fixtures/cassettes)")
    parser.add_argument("--report-dir", help="where the reports go (default reports/live)")
    parser.add_argument("--strict", action="store_true", default=None, help="deviations fail the run (STRICT=1)")
    args = parser.parse_args(argv)
    try:
        config = LiveConfig.from_env(
            os.environ,
            dry_run=args.dry_run,
            base_url=args.base_url,
            allow_spend=args.allow_spend,
            allow_tasks=args.allow_tasks,
            price=args.price,
            record=args.record,
            report_dir=args.report_dir,
            strict=args.strict,
        )
    except LiveConfigError as exc:
        sys.stderr.write(f"spark-live: {exc}\n")
        return 2
    spec = ApiSpec.load()
    plan = build_plan(spec)
    cost = CostModel.from_spec(spec, config.price_per_second)
    if config.dry_run:
        sys.stdout.write(describe_plan(plan, cost, config))
        return 0
    try:
        return _run(config, spec, plan, cost)
    except Exception as exc:  # a last guard: no exception text may carry the key out
        sys.stderr.write(mask(f"spark-live: the run stopped: {type(exc).__name__}: {exc}\n", config.api_key))
        return 1


def _run(config: LiveConfig, spec: ApiSpec, plan: list[Probe], cost: CostModel) -> int:
    started, clock = now(), time.monotonic()
    audit = AuditLog(config.report_dir / "audit.jsonl")
    guard = SpendGuard(
        config.allow_spend, cost, max_tasks=config.allow_tasks, audit=audit, max_accidents=config.max_accidents
    )
    target = PacedTarget(config.base_url, config.api_key, guard, spec, rate=config.rate, max_retries=config.max_retries)
    recorder = None
    if config.record is not None:
        recorder = Recorder(config.base_url, str(spec.document["info"]["version"]), lambda: guard.probe)
        target.listeners.append(recorder)
    verdicts = Verdicts(spec, config.base_url)
    watcher = TaskWatcher.for_spec(spec, target, verdicts, timeout=config.task_timeout, interval=config.poll_interval)
    sys.stdout.write(f"spark-live: {len(plan)} probes against {config.base_url}; {_limits(config)}\n")
    try:
        results = LiveRun(target, guard, verdicts, watcher, strict=config.strict).run(plan)
    finally:
        audit.close()
        target.close()
    cassette = recorder.save(config.record, config.api_key) if recorder and config.record else None
    report = LiveReport(
        config=config,
        results=results,
        answers=answer_questions(results, spec, target.stats),
        guard=guard,
        stats=target.stats,
        requests_sent=target.sent,
        started_at=started,
        duration=time.monotonic() - clock,
        audit_path=audit.path if guard.tasks or guard.unknown else None,
        cassette_path=cassette,
    )
    paths = report.write(config.report_dir)
    sys.stdout.write(report.summary() + "\n\nReports: " + ", ".join(map(str, paths)) + "\n")
    return report.exit_code


def describe_plan(plan: list[Probe], cost: CostModel, config: LiveConfig) -> str:
    """What a dry run prints: every planned request, what it may cost, and the worst case."""
    lines = [f"Dry run: nothing is sent. Plan against {config.base_url}, {_limits(config)}:", ""]
    left, paid_tasks = config.allow_spend, 0
    paid_prices, reject_prices = [], []
    for number, probe in enumerate(plan, 1):
        price = cost.cost(probe.content) if probe.kind == "create" else 0.0
        if probe.paid:
            paid_prices.append(price)
            if config.allow_tasks is not None and paid_tasks >= config.allow_tasks:
                note = f"not sent: ALLOW_TASKS={config.allow_tasks} reached"
            elif price > left + 1e-9:
                note = f"not sent: needs ${price:.2f}, {dollars(left)} of ALLOW_SPEND left"
            else:
                left -= price
                paid_tasks += 1
                note = f"PAID ${price:.2f}"
        elif probe.kind == "create":
            reject_prices.append(price)
            note = f"free if refused; ${price:.2f} if wrongly accepted"
        else:
            note = "free"
        lines.append(f"{number:>4}. {probe.kind.upper():6} {probe.expect:14} {probe.title[:70]:70} {note}")
    bound = SpendBound.of(
        paid_prices,
        reject_prices,
        cap=config.allow_spend,
        max_tasks=config.allow_tasks,
        max_accidents=config.max_accidents,
    )
    lines += [
        "",
        f"Planned spend: ${bound.planned:.2f} on {bound.paid} paid generations.",
        f"A must-reject request the target wrongly accepts (or answers with a 5xx, or not at all) costs at most "
        f"${bound.worst_accident:.2f}; it is charged against ALLOW_SPEND, and after MAX_ACCIDENTS="
        f"{config.max_accidents} of them the run sends no more such requests.",
        f"Worst-case total, whatever the target answers: ${bound.worst_total:.2f}.",
        "",
    ]
    return "\n".join(lines)


def _limits(config: LiveConfig) -> str:
    tasks = f", ALLOW_TASKS={config.allow_tasks}" if config.allow_tasks is not None else ""
    return f"ALLOW_SPEND={dollars(config.allow_spend)}{tasks}, MAX_ACCIDENTS={config.max_accidents}"


def drift_main(argv: Sequence[str] | None = None) -> int:
    """Replay a cassette against the mock and report the differences."""
    parser = command_parser(
        "spark-drift",
        "Compare a recorded live run with the mock.",
        "0  no drift\n1  the mock differs from the recording\n"
        "2  a usage or configuration error (an unreadable cassette, a bad setting)",
    )
    parser.add_argument("cassette", type=Path, help="a cassette written by spark-live --record")
    parser.add_argument("--follow", action="store_true", help="configure the mock to follow the recording")
    parser.add_argument("--report-dir", type=Path, default=Path(os.environ.get("REPORT_DIR") or "reports/drift"))
    args = parser.parse_args(argv)
    try:
        document = load(args.cassette)
        spec = ApiSpec.load()
        overrides: dict[str, str] = {}
        if args.follow or os.environ.get("FOLLOW", "").lower() in ("1", "true", "yes"):
            overrides = {k.removeprefix("MOCK_").lower(): v for k, v in drift.follow_settings(document, spec).items()}
        settings = Settings.from_env(os.environ, **overrides)
    except (OSError, ValueError, SettingsError) as exc:
        sys.stderr.write(f"spark-drift: {exc}\n")
        return 2
    report = drift.replay(document, spec, settings, cassette_name=str(args.cassette))
    paths = drift_report.write(report, args.report_dir)
    sys.stdout.write(report.summary() + "\n\nReports: " + ", ".join(map(str, paths)) + "\n")
    return report.exit_code
