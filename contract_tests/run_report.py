"""The run's report, for people (Markdown, and a summary on the terminal) and for machines (JSON).

Violations (documented rules broken) come first; then deviations (the target takes another reading
of the docs than this contract, where the docs disagree or are silent), each with the docs' words;
then the task plan, share by share. JUnit XML is written by pytest itself, next to these files.

Exit codes: 0 passed (deviations allowed, unless ``STRICT``); 1 violations, or tests that could not
reach a verdict; 2 a usage or configuration error; 3 no violation found, but the task budget stopped
the run before it was complete.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract_tests.budget import TaskBudget
from contract_tests.config import RunConfig
from contract_tests.findings import Finding
from contract_tests.task_plan import TaskPlan

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


@dataclass
class TestResult:
    """One test of the suite: how it ended, and the violations it found."""

    test: str
    outcome: str  # passed | failed | skipped | error
    violations: list[Finding] = field(default_factory=list)  # deviations too: see Finding.deviation
    message: str = ""


class RunReport:
    """Collects results during a run and writes them out at the end."""

    def __init__(self, config: RunConfig, budget: TaskBudget, plan: TaskPlan | None = None) -> None:
        self.config = config
        self.budget = budget
        self.plan = plan
        self.results: list[TestResult] = []
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.finished: float | None = None
        self.requests_sent = 0
        self.creates_sent = 0

    def add(self, result: TestResult) -> None:
        self.results.append(result)

    @property
    def violations(self) -> list[tuple[str, Finding]]:
        """What fails the run: documented rules broken, and, in strict runs, the deviations."""
        return [(r.test, v) for r in self.results for v in r.violations if self.config.strict or not v.deviation]

    @property
    def deviations(self) -> list[tuple[str, Finding]]:
        """Where the target reads the docs another way than this contract (empty in strict runs: they fail)."""
        if self.config.strict:
            return []
        return [(r.test, v) for r in self.results for v in r.violations if v.deviation]

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.outcome for r in self.results)

    @property
    def verdict(self) -> str:
        counts = self.counts
        if self.violations or counts["failed"] or counts["error"]:
            return "FAILED"
        if counts["skipped"] or self._cut_short():
            return "INCOMPLETE"
        if not self.results:
            return "ERROR"
        return "PASSED"

    @property
    def exit_code(self) -> int:
        return {"PASSED": EXIT_PASSED, "INCOMPLETE": EXIT_INCOMPLETE}.get(self.verdict, EXIT_FAILED)

    @property
    def duration(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "target": self.config.target_name,
            "profile": self.config.profile.name,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_seconds": round(self.duration, 2),
            "tests": dict(self.counts),
            "requests_sent": self.requests_sent,
            "creates_sent": self.creates_sent,
            "tasks_accepted": self.budget.accepted,
            "tasks_accepted_unexpectedly": self.budget.unexpectedly_accepted,
            "max_tasks": self.budget.max_tasks,
            "creates_refused_by_budget": self.budget.refused,
            "strict": self.config.strict,
            "plan": self.shares(),
            "violations": [{"test": test, **v.as_dict()} for test, v in self.violations],
            "deviations": [{"test": test, **v.as_dict()} for test, v in self.deviations],
            "errors": [{"test": r.test, "message": r.message} for r in self.results if r.outcome == "error"],
            "skipped": [{"test": r.test, "reason": r.message} for r in self.results if r.outcome == "skipped"],
        }

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, machine = directory / "report.md", directory / "report.json"
        markdown.write_text(self.markdown(), encoding="utf-8")
        machine.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        return markdown, machine

    def settings_lines(self) -> list[tuple[str, str]]:
        cap = "none" if self.budget.max_tasks is None else str(self.budget.max_tasks)
        counts = self.counts
        tests = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "error", "skipped") if counts[k])
        planned = f" of {self.plan.total} planned" if self.plan is not None else ""
        tasks = f"{self.budget.accepted} accepted{planned} (MAX_TASKS={cap})"
        if self.budget.unexpectedly_accepted:
            tasks += f", {self.budget.unexpectedly_accepted} of them by requests that should have been rejected"
        if self.budget.refused:
            tasks += f"; {self.budget.refused} creates not sent because a share of the plan (or the cap) was used"
        return [
            ("Target", self.config.target_name),
            ("Profile", self.config.profile.name),
            ("Started", self.started_at.isoformat(timespec="seconds")),
            ("Duration", f"{self.duration:.1f} s"),
            ("Tests", tests or "none"),
            ("Requests sent", f"{self.requests_sent} ({self.creates_sent} creates)"),
            ("Tasks", tasks),
            ("Task timeout", f"{self.config.task_timeout:g} s"),
            ("Deviations", self._deviation_line()),
        ]

    def _deviation_line(self) -> str:
        if self.config.strict:
            return "STRICT: each one is a violation"
        kinds = len({(v.check, v.title) for _, v in self.deviations})
        return f"{kinds} (not failures; STRICT=1 makes them fail)" if kinds else "none"

    def shares(self) -> dict[str, dict[str, int]]:
        """Each share of the plan: the tasks it may use, those it used, and the creates it did not send."""
        if self.plan is None:
            return {}
        return {
            share.name: {
                "planned": share.tasks,
                "wanted": share.wanted,
                "used": self.budget.by_share[share.name],
                "not_sent": self.budget.refused_by_share[share.name],
            }
            for share in self.plan.shares
        }

    def markdown(self) -> str:
        lines = [f"# Contract report: {self.config.target_name}", "", f"**{self.verdict}**", ""]
        lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in self.settings_lines()), ""]
        if self.violations:
            lines += [f"## Violations ({len(self.violations)})", ""]
            for number, (test, found) in enumerate(self.violations, 1):
                lines += [f"### {number}. `{found.check}`: {found.title}", "", f"Test: `{test}`", ""]
                if found.request:
                    lines += ["Request:", "", "```sh", found.request, "```", ""]
                lines += ["Expected:", "", "```", found.expected, "```", "", "Got:", "", "```", found.actual, "```", ""]
        deviations = self._grouped(self.deviations)
        if deviations:
            lines += [
                f"## Deviations ({len(deviations)})",
                "",
                "Where the docs disagree or are silent, this target reads them another way than this contract.",
                "Not failures (`STRICT=1` makes them fail); each is worth knowing before the mock is trusted.",
                "",
            ]
            for number, (found, tests) in enumerate(deviations, 1):
                lines += [f"### {number}. `{found.check}`: {found.title}", ""]
                lines += [
                    f"**Where the rule comes from.** {found.docs}",
                    "",
                    f"Seen in {len(tests)} test(s), first `{tests[0]}`.",
                    "",
                ]
                if found.request:
                    lines += ["Request:", "", "```sh", found.request, "```", ""]
                lines += ["Expected:", "", "```", found.expected, "```", "", "Got:", "", "```", found.actual, "```", ""]
        shares = self.shares()
        if shares:
            lines += ["## Task plan", "", "| Share | Planned | Used | Creates not sent |", "|---|---|---|---|"]
            lines += [f"| {k} | {v['planned']} | {v['used']} | {v['not_sent']} |" for k, v in shares.items()] + [""]
        errors = [r for r in self.results if r.outcome == "error" or (r.outcome == "failed" and not self._fails(r))]
        if errors:
            lines += ["## Tests that could not reach a verdict", ""]
            lines += [f"- `{r.test}`: {r.message}" for r in errors] + [""]
        skipped = [r for r in self.results if r.outcome == "skipped"]
        if skipped:
            lines += ["## Skipped", ""] + [f"- `{r.test}`: {r.message}" for r in skipped] + [""]
        by_check = Counter(v.check for _, v in self.violations)
        if by_check:
            lines += ["## Violations by check", "", "| Check | Count |", "|---|---|"]
            lines += [f"| `{check}` | {count} |" for check, count in by_check.most_common()] + [""]
        return "\n".join(lines)

    def _cut_short(self) -> bool:
        """Whether the cap gave a part less than it wanted, and it then had creates it could not send (the
        generated cases of Schemathesis stop quietly when their share is used: not a skipped test)."""
        shares = self.shares()
        return any(s["planned"] < s["wanted"] and s["not_sent"] for s in shares.values())

    def _fails(self, result: TestResult) -> bool:
        return any(self.config.strict or not v.deviation for v in result.violations)

    @staticmethod
    def _grouped(found: list[tuple[str, Finding]]) -> list[tuple[Finding, list[str]]]:
        """Findings with the same check and title once, with every test that made them."""
        groups: dict[tuple[str, str], tuple[Finding, list[str]]] = {}
        for test, finding in found:
            groups.setdefault((finding.check, finding.title), (finding, []))[1].append(test)
        return list(groups.values())

    def summary(self, limit: int = 12) -> str:
        """What the terminal shows at the end: the verdict, the figures, and the first violations."""
        lines = ["", f"Contract run against {self.config.target_name}: {self.verdict}"]
        lines += [f"  {k}: {v}" for k, v in self.settings_lines()]
        for test, found in self.violations[:limit]:
            lines += ["", f"{test}", found.render()]
        if len(self.violations) > limit:
            lines += ["", f"... and {len(self.violations) - limit} more violations in the report."]
        deviations = self._grouped(self.deviations)
        if deviations:
            lines += ["", f"{len(deviations)} deviations (not failures; STRICT=1 makes them fail):"]
            lines += [f"  [{found.check}] {found.title} ({found.basis} rule)" for found, _ in deviations[:limit]]
            if len(deviations) > limit:
                lines.append(f"  ... and {len(deviations) - limit} more in the report.")
        for result in self.results:
            if result.outcome == "error" or (result.outcome == "failed" and not self._fails(result)):
                lines += ["", f"{result.test}: could not reach a verdict: {result.message}"]
        if self.counts["skipped"] or self._cut_short():
            lines += [
                "",
                f"The task budget stopped the run: MAX_TASKS={self.budget.max_tasks}; "
                f"{self.budget.accepted} tasks were accepted, and tests that needed more were skipped.",
            ]
        return "\n".join(lines)
