"""``spark-contract``: check a target against the wan2.6-i2v-spark contract.

The key comes only from the ``API_KEY`` environment variable, never from an option.
Exit codes: 0 the target honours every documented rule (deviations, where it reads the docs another
way, are reported but allowed, unless ``STRICT=1``); 1 violations (or tests that could not reach a
verdict); 2 a usage or configuration error; 3 no violation found, but the task budget stopped the
run before it was complete.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from contract_tests.config import PROFILES, ConfigError, RunConfig
from contract_tests.run_report import EXIT_USAGE
from contract_tests.runner import run, selected
from contract_tests.task_plan import plan_run
from sparkspec.openapi import ApiSpec
from sparkspec.resources import command_parser

EXIT_CODES = """
0  the target keeps every documented rule (deviations are listed, not failures, unless STRICT=1)
1  violations, or tests that could not reach a verdict
2  a usage or configuration error
3  no violation found, but the task budget stopped the run before it was complete
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser(
        "spark-contract",
        "Run the wan2.6-i2v-spark contract suites against the bundled mock or any URL. "
        "Settings also come from BASE_URL, MAX_TASKS, TASK_TIMEOUT, POLL_INTERVAL, PROFILE, REPORT_DIR, "
        "STRICT and WEBHOOK_LISTEN; the key only from API_KEY, the webhook secret only from WEBHOOK_SECRET.",
        EXIT_CODES,
    )
    parser.add_argument("--base-url", help="the target (default: start the bundled mock for the run)")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="how many examples (default: default)")
    parser.add_argument("--max-tasks", type=int, help="most tasks the run may have accepted")
    parser.add_argument("--task-timeout", type=float, help="seconds one task may take to finish")
    parser.add_argument("--poll-interval", type=float, help="seconds between polls of a task")
    parser.add_argument("--report-dir", help="where the reports go (default reports/contract)")
    parser.add_argument("-k", dest="select", default="", help="only the tests matching this pytest -k expression")
    parser.add_argument(
        "--strict", action="store_true", default=None, help="deviations fail the run too (STRICT=1 does the same)"
    )
    parser.add_argument(
        "--webhook-listen",
        help="host:port to receive the target's webhooks on, and check them (WEBHOOK_SECRET: their secret)",
    )
    parser.add_argument("--plan", action="store_true", help="print the task plan (tasks per part of the run) and stop")
    args = parser.parse_args(argv)
    try:
        config = RunConfig.from_env(
            os.environ,
            base_url=args.base_url,
            profile=args.profile,
            max_tasks=args.max_tasks,
            task_timeout=args.task_timeout,
            poll_interval=args.poll_interval,
            report_dir=args.report_dir,
            strict=args.strict,
            webhook_listen=args.webhook_listen,
            need_key=not args.plan,
        )
    except ConfigError as exc:
        sys.stderr.write(f"spark-contract: {exc}\n")
        return EXIT_USAGE
    plan = plan_run(ApiSpec.load(), config.profile, config.max_tasks, webhooks=config.webhook_listen is not None)
    if args.plan:
        sys.stdout.write(f"spark-contract: {config.target_name}, profile {config.profile.name}\n\n{plan.describe()}")
        return 0
    cap = "no cap" if config.max_tasks is None else f"at most {config.max_tasks} accepted tasks"
    strict = ", STRICT: deviations fail" if config.strict else ""
    hooks = "" if config.webhook_listen is None else ", webhooks received on {}:{}".format(*config.webhook_listen)
    sys.stdout.write(
        f"spark-contract: {config.target_name}, profile {config.profile.name}, {cap}, "
        f"{plan.total} tasks planned{strict}{hooks}\n"
    )
    try:
        code, _ = run(config, selected(args.select))
    except ConfigError as exc:
        sys.stderr.write(f"spark-contract: {exc}\n")
        return EXIT_USAGE
    return code
