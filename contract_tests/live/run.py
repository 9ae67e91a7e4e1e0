"""Carry out a live plan: each probe in turn, judged by the same verdicts as the contract suites,
under the spend guard, with progress on the terminal."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Literal, TextIO

from contract_tests.budget import BudgetExhausted
from contract_tests.findings import Finding, Inconclusive, violation
from contract_tests.lifecycle import Observation, TaskWatcher
from contract_tests.live.pacing import PacedTarget
from contract_tests.live.plan import Probe
from contract_tests.live.spend import SpendGuard
from contract_tests.target import Exchange, TargetUnreachable
from contract_tests.verdicts import Verdicts

# "deviation": the target answered as another reading of the docs allows (a disputed or assumed rule).
Verdict = Literal["pass", "deviation", "fail", "skipped", "error"]


@dataclass
class ProbeResult:
    """How one probe went: its verdict, the exchanges it made, what broke, and the task it followed."""

    probe: Probe
    verdict: Verdict
    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    note: str = ""
    observation: Observation | None = None
    cost: float = 0.0

    @property
    def observed(self) -> str:
        """What came back, in one line, for the report's table."""
        if not self.exchanges:
            return self.note or "nothing was sent"
        first = self.exchanges[0]
        line = first.describe().replace("\n", " · ")
        if self.observation is not None and self.observation.statuses:
            line += " · then " + " → ".join(dict.fromkeys(self.observation.statuses))
        return line if len(line) <= 300 else line[:299] + "…"


class LiveRun:
    """Runs probes against a target, one at a time.

    Args:
        target: The paced, guarded target.
        guard: The spend guard the target asks before every create.
        verdicts: The contract's verdicts (the same as the suites').
        watcher: Follows paid tasks to their end.
        out: Where progress goes.
        strict: Deviations fail their probe, as violations do.
    """

    def __init__(
        self,
        target: PacedTarget,
        guard: SpendGuard,
        verdicts: Verdicts,
        watcher: TaskWatcher,
        out: TextIO = sys.stdout,
        *,
        strict: bool = False,
    ) -> None:
        self.strict = strict
        self.target = target
        self.guard = guard
        self.verdicts = verdicts
        self.watcher = watcher
        self.out = out
        self._last_progress = 0.0
        watcher.on_poll = self._progress_while_polling

    def run(self, plan: list[Probe]) -> list[ProbeResult]:
        results = []
        for number, probe in enumerate(plan, 1):
            self.guard.probe = probe.id
            spent_before = self.guard.spent
            result = self._run(probe)
            result.cost = round(self.guard.spent - spent_before, 6)
            results.append(result)
            self._say(
                f"[{number:>3}/{len(plan)}] {result.verdict.upper():7} {probe.title[:70]:70} "
                f"{_status(result):>5}  spent ${self.guard.spent:.2f}  requests {self.target.sent}"
            )
        return results

    def _run(self, probe: Probe) -> ProbeResult:
        result = ProbeResult(probe, "pass")
        try:
            if probe.kind == "poll":
                assert probe.task_id is not None
                exchange = self.target.poll(probe.task_id, auth=probe.auth, headers=dict(probe.headers))
            else:
                exchange = self.target.create(
                    probe.body,
                    raw=probe.raw,
                    auth=probe.auth,
                    headers=dict(probe.headers),
                    meant_to_be_rejected=probe.meant_to_be_rejected,
                )
            result.exchanges.append(exchange)
            result.violations += self._judge(probe, exchange, result)
        except BudgetExhausted as exc:
            return ProbeResult(probe, "skipped", note=f"not sent: {exc}")
        except TargetUnreachable as exc:
            result.exchanges.append(exc.exchange)
            return ProbeResult(probe, "error", result.exchanges, note=f"the target did not answer: {exc}")
        except Inconclusive as exc:
            return ProbeResult(probe, "error", result.exchanges, note=str(exc))
        failing = [v for v in result.violations if self.strict or not v.deviation]
        result.verdict = "fail" if failing else "deviation" if result.violations else "pass"
        return result

    def _judge(self, probe: Probe, exchange: Exchange, result: ProbeResult) -> list[Finding]:
        verdicts = self.verdicts
        label = None if probe.documented else probe.provenance
        if probe.expect == "reject":
            # An open probe the target took is a deviation (and a paid task, not followed: its answer is the point).
            return verdicts.rejected(exchange, probe.title, label)
        if probe.expect in ("unauthorized", "not-found"):
            wanted = 401 if probe.expect == "unauthorized" else 404
            found = verdicts.conformance(exchange)
            if exchange.status != wanted:
                check = "auth.required" if wanted == 401 else "poll.unknown-is-404"
                title = f"{probe.title}: not answered with {wanted}"
                found.append(violation(check, title, probe.spec_says, exchange, label=label))
            return found
        accepted = 200 <= exchange.status < 300
        found = verdicts.accepted(exchange, probe.title, label) if probe.expect == "accept" else []
        if not accepted:
            return found if probe.expect == "accept" else verdicts.rejected(exchange, probe.title, label)
        if probe.expect == "reject-or-fail":
            found += verdicts.conformance(exchange)
        observation = self.watcher.follow([self.watcher.start(exchange)])[0]
        result.observation = observation
        found += observation.violations
        if probe.expect == "reject-or-fail" and observation.phase == "succeeded":
            found.append(
                violation(
                    "images.no-video-for-invalid-image",
                    f"{probe.title}: produced a video",
                    probe.spec_says,
                    observation.last,
                    label=label,
                )
            )
        return found

    def _progress_while_polling(self, observation: Observation) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 15:
            self._last_progress = now
            status = observation.statuses[-1] if observation.statuses else "?"
            self._say(f"          waiting for task {observation.task_id}: {status}, {len(observation.statuses)} polls")

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def _status(result: ProbeResult) -> str:
    return str(result.exchanges[0].status) if result.exchanges and result.exchanges[0].status else "-"
