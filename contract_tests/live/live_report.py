"""The live run's report, for a person (Markdown, HTML) and for machines (JUnit XML, JSON).

Every check appears with its verdict and, side by side, what the spec says and what was observed;
then the spend and the audit log, the answers to the docs' open questions, and the run's settings.
Secrets are masked before anything is written.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract_tests.live.config import LiveConfig
from contract_tests.live.observations import Answer
from contract_tests.live.pacing import RetryStats
from contract_tests.live.run import ProbeResult
from contract_tests.live.spend import SpendGuard, dollars
from sparkspec.redaction import mask

VERDICT_MARK = {
    "pass": "✅ pass",
    "deviation": "↔ deviation",
    "fail": "❌ FAIL",
    "skipped": "⏭ skipped",
    "error": "⚠ error",
}


@dataclass
class LiveReport:
    """Everything a live run found."""

    config: LiveConfig
    results: list[ProbeResult]
    answers: list[Answer]
    guard: SpendGuard
    stats: RetryStats
    requests_sent: int
    started_at: datetime
    duration: float
    audit_path: Path | None = None
    cassette_path: Path | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.verdict for r in self.results)

    @property
    def verdict(self) -> str:
        counts = self.counts
        return "FAILED" if counts["fail"] or counts["error"] else "PASSED"

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "PASSED" else 1

    def settings(self) -> list[tuple[str, str]]:
        config = self.config
        counts = self.counts
        return [
            ("Target", config.base_url),
            ("Started", self.started_at.isoformat(timespec="seconds")),
            ("Duration", f"{self.duration:.1f} s"),
            (
                "Checks",
                ", ".join(f"{counts[k]} {k}" for k in ("pass", "deviation", "fail", "error", "skipped") if counts[k]),
            ),
            ("Spent", self._spend_line()),
            ("Cost model", f"${config.price_per_second:g} per second of video (PRICE_PER_SECOND)"),
            (
                "Allowed",
                f"ALLOW_SPEND={dollars(config.allow_spend)}"
                + (f", ALLOW_TASKS={config.allow_tasks}" if config.allow_tasks is not None else "")
                + f", MAX_ACCIDENTS={config.max_accidents}",
            ),
            ("Requests", f"{self.requests_sent} sent at most {config.rate:g}/s; {self._retry_line()}"),
            ("Audit log", str(self.audit_path) if self.audit_path else "none (no task was accepted)"),
            ("Cassette", str(self.cassette_path) if self.cassette_path else "not recorded (RECORD=1 records one)"),
        ]

    def _spend_line(self) -> str:
        guard = self.guard
        line = f"${guard.spent:.2f} on {guard.tasks} accepted tasks ({guard.paid_tasks} meant to be paid for)"
        if guard.accidents:
            line += f"; {guard.accidents} accepted that the contract says must be rejected"
        if guard.unknown:
            line += (
                f"; {guard.unknown} creates got a 5xx or no answer: they may have made tasks, so their cost "
                "is counted (audit log: outcome unknown)"
            )
        return line

    def _retry_line(self) -> str:
        s = self.stats
        return (
            f"{s.rate_limited} rate-limited (429), {s.server_errors} 5xx, {s.unreachable} unanswered; "
            f"{s.retries} retries, {s.waited_seconds:.1f} s waited"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "settings": dict(self.settings()),
            "spent_usd": self.guard.spent,
            "tasks_accepted": self.guard.tasks,
            "paid_tasks": self.guard.paid_tasks,
            "accepted_should_be_rejected": self.guard.accidents,
            "unknown_outcome_creates": self.guard.unknown,
            "retries": vars(self.stats),
            "checks": [
                {
                    "probe": r.probe.id,
                    "title": r.probe.title,
                    "verdict": r.verdict,
                    "spec_says": r.probe.spec_says,
                    "observed": r.observed,
                    "cost_usd": r.cost,
                    "note": r.note,
                    "violations": [v.as_dict() for v in r.violations],
                }
                for r in self.results
            ],
            "open_questions": [vars(a) for a in self.answers],
        }

    def write(self, directory: Path) -> list[Path]:
        """Markdown, HTML, JUnit XML and JSON, each masked."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "report.md": self.markdown(),
            "report.html": self.html(),
            "junit.xml": self.junit(),
            "report.json": json.dumps(self.as_dict(), indent=2, ensure_ascii=False),
        }
        written = []
        for name, text in files.items():
            path = directory / name
            path.write_text(self._mask(text), encoding="utf-8")
            written.append(path)
        return written

    def _mask(self, text: str) -> str:
        return mask(text, self.config.api_key)

    def markdown(self) -> str:
        lines = [f"# Live conformance report: {self.config.base_url}", "", f"**{self.verdict}**", ""]
        lines += ["| | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in self.settings()), ""]
        sections = (
            ("Violations", [r for r in self.results if r.verdict in ("fail", "error")]),
            (
                "Deviations: where the target reads the docs another way",
                [r for r in self.results if r.verdict == "deviation"],
            ),
        )
        for heading, chosen in sections:
            if not chosen:
                continue
            lines += [f"## {heading}", ""]
            for result in chosen:
                lines += [f"### {result.probe.title}", "", f"Probe `{result.probe.id}`: {result.note}".rstrip(": "), ""]
                for found in result.violations:
                    lines += [f"**`{found.check}`**: {found.title}", ""]
                    if found.docs:
                        lines += [f"Where the rule comes from: {found.docs}", ""]
                    if found.request:
                        lines += ["```sh", found.request, "```", ""]
                    lines += ["Expected:", "```", found.expected, "```", "Got:", "```", found.actual, "```", ""]
        lines += ["## Answers to the docs' open questions (api-facts §11)", ""]
        lines += ["| # | Question | Observed | The mock by default | To follow it |", "|---|---|---|---|---|"]
        for a in self.answers:
            follow = " ".join(f"`{k}={v}`" for k, v in a.follow.items()) or "—"
            lines.append(
                f"| {a.number} | {_cell(a.question)} | {_cell(a.answer)} | {_cell(a.mock_default)} | {follow} |"
            )
        lines += [
            "",
            "## Every check",
            "",
            "| Verdict | Check | The spec says | Observed | Cost |",
            "|---|---|---|---|---|",
        ]
        for r in self.results:
            lines.append(
                f"| {VERDICT_MARK[r.verdict]} | {_cell(r.probe.title)} | {_cell(r.probe.spec_says)} | "
                f"{_cell(r.observed)} | ${r.cost:.2f} |"
            )
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr class='{r.verdict}'><td>{e(VERDICT_MARK[r.verdict])}</td><td>{e(r.probe.title)}</td>"
            f"<td>{e(r.probe.spec_says)}</td><td><code>{e(r.observed)}</code></td><td>${r.cost:.2f}</td></tr>"
            for r in self.results
        )
        settings = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.settings())
        answers = "".join(
            f"<tr><td>{e(a.number)}</td><td>{e(a.question)}</td><td>{e(a.answer)}</td><td>{e(a.mock_default)}</td>"
            f"<td>{e(' '.join(f'{k}={v}' for k, v in a.follow.items()) or '—')}</td></tr>"
            for a in self.answers
        )
        violations = "".join(
            f"<section><h3>{e(r.probe.title)}</h3>"
            + "".join(
                f"<p><b>{e(v.check)}</b>: {e(v.title)}</p><pre>{e(v.request)}</pre>"
                f"<p>Expected</p><pre>{e(v.expected)}</pre><p>Got</p><pre>{e(v.actual)}</pre>"
                for v in r.violations
            )
            + (f"<p>{e(r.note)}</p>" if r.note else "")
            + "</section>"
            for r in self.results
            if r.verdict in ("fail", "error")
        )
        deviations = "".join(
            f"<section><h3>{e(r.probe.title)}</h3>"
            + "".join(
                f"<p><b>{e(v.check)}</b>: {e(v.title)}</p><p>{e(v.docs)}</p>"
                f"<p>Expected</p><pre>{e(v.expected)}</pre><p>Got</p><pre>{e(v.actual)}</pre>"
                for v in r.violations
            )
            + "</section>"
            for r in self.results
            if r.verdict == "deviation"
        )
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Live conformance report: {e(self.config.base_url)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 90rem; }}
table {{ border-collapse: collapse; margin-bottom: 2rem; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top; }}
tr.fail td, tr.error td {{ background: #fde8e8; }} tr.skipped td {{ color: #777; }}
tr.deviation td {{ background: #fff6dd; }}
pre {{ background: #f6f6f6; padding: .5rem; white-space: pre-wrap; word-break: break-all; }}
.verdict {{ font-size: 1.4rem; font-weight: bold; }}
</style></head><body>
<h1>Live conformance report: {e(self.config.base_url)}</h1>
<p class="verdict">{e(self.verdict)}</p>
<table>{settings}</table>
<h2>Violations</h2>{violations or "<p>None.</p>"}
<h2>Deviations: where the target reads the docs another way</h2>{deviations or "<p>None.</p>"}
<h2>Answers to the docs' open questions (api-facts §11)</h2>
<table><tr><th>#</th><th>Question</th><th>Observed</th><th>The mock by default</th><th>To follow it</th></tr>
{answers}</table>
<h2>Every check</h2>
<table><tr><th>Verdict</th><th>Check</th><th>The spec says</th><th>Observed</th><th>Cost</th></tr>{rows}</table>
</body></html>
"""

    def junit(self) -> str:
        counts = self.counts
        suite = ET.Element(
            "testsuite",
            name="live",
            tests=str(len(self.results)),
            failures=str(counts["fail"]),
            errors=str(counts["error"]),
            skipped=str(counts["skipped"]),
            time=f"{self.duration:.3f}",
            timestamp=self.started_at.isoformat(timespec="seconds"),
        )
        for r in self.results:
            case = ET.SubElement(suite, "testcase", classname=f"live.{r.probe.group}", name=r.probe.title)
            if r.verdict == "fail":
                failure = ET.SubElement(case, "failure", message=r.violations[0].title if r.violations else "failed")
                failure.text = "\n\n".join(v.render() for v in r.violations)
            elif r.verdict == "error":
                ET.SubElement(case, "error", message=r.note)
            elif r.verdict == "skipped":
                ET.SubElement(case, "skipped", message=r.note)
        return str(ET.tostring(suite, encoding="unicode", xml_declaration=True))

    def summary(self) -> str:
        lines = ["", f"Live run against {self.config.base_url}: {self.verdict}"]
        lines += [f"  {k}: {v}" for k, v in self.settings()]
        deviations = [found for r in self.results if r.verdict == "deviation" for found in r.violations]
        for r in self.results:
            if r.verdict == "fail":
                lines += ["", *(found.render() for found in r.violations)]
            if r.verdict == "error":
                lines += ["", f"{r.probe.title}: {r.note}"]
        if deviations:
            lines += ["", f"{len(deviations)} deviations (not failures; STRICT=1 makes them fail), in the report:"]
            shown = dict.fromkeys(f"  [{f.check}] {f.title} ({f.basis} rule)" for f in deviations)
            lines += list(shown)[:12] + ([f"  ... and {len(shown) - 12} more"] if len(shown) > 12 else [])
        return self._mask("\n".join(lines))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def now() -> datetime:
    return datetime.now(UTC)
