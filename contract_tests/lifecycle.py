"""Following tasks to their end, and checking on every poll that the lifecycle keeps its promises.

The lifecycle itself (phases, transitions, terminal phases, the words of both vocabularies) is
read from ``x-task-lifecycle`` in the spec, and so is the label of each promise
(:func:`lifecycle_labels`): breaking a promise the docs do not make (``updated_at`` never going
backwards, say) is a deviation, not a violation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract_tests.findings import Finding, violation
from contract_tests.target import POLL_OPERATION, Exchange, Target
from contract_tests.task_rules import check_move, check_result, check_times, reachable_from
from contract_tests.verdicts import Verdicts
from sparkspec.openapi import ApiSpec, Lifecycle
from sparkspec.provenance import Provenance, Provenances

MP4_SIGNATURE = b"ftyp"


def lifecycle_labels(spec: ApiSpec) -> dict[str, Provenance]:
    """The label of each promise the lifecycle checks hold, by check id (read from the spec)."""
    labels = Provenances(spec)
    schemas = spec.document["components"]["schemas"]
    status = schemas["TaskStatus"]
    lifecycle = status["x-task-lifecycle"]
    info = schemas["TaskInfo"]["properties"]
    result = schemas["TaskResult"]
    # The rules "videos exactly when succeeded" and "the error exactly when failed", told apart by what they require.
    conditions = {str(rule["then"]): rule for rule in result["allOf"] if "if" in rule}
    videos_rule = next(rule for then, rule in conditions.items() if "videos" in then)
    error_rule = next(rule for then, rule in conditions.items() if "error" in then)
    status_on_create = schemas["TaskCreated"]["allOf"][0]["properties"]["task_info"]
    return {
        "lifecycle.initial-status": labels.label(lifecycle, "initial"),
        "lifecycle.status-on-create": labels.label(status_on_create, "required"),
        "lifecycle.terminal-final": labels.label(lifecycle, "terminal"),
        "lifecycle.result-stable": labels.label(result, "result-stable"),
        "lifecycle.video-container": labels.label(result["properties"]["videos"]["items"], "container"),
        "lifecycle.forward-only": labels.label(lifecycle, "transitions"),
        "lifecycle.status-word": labels.label(status, "enum"),
        "lifecycle.videos-iff-succeeded": labels.label(videos_rule, "if"),
        "lifecycle.error-iff-failed": labels.label(error_rule, "if"),
        "lifecycle.id": labels.label(info["id"], "format"),
        "lifecycle.timestamps": labels.label(info["created_at"], "format"),
        "lifecycle.created-at-stable": labels.label(info["created_at"], "stable"),
        "lifecycle.updated-at-monotonic": labels.label(info["updated_at"], "monotonic"),
    }


@dataclass
class Observation:
    """What one task did: its id, the statuses seen in order, its last poll, and what broke."""

    task_id: str
    created: Exchange
    statuses: list[str] = field(default_factory=list)
    last: Exchange | None = None
    phase: str | None = None
    violations: list[Finding] = field(default_factory=list)


class TaskWatcher:
    """Polls tasks until they end (or time out), checking the invariants on each answer."""

    def __init__(
        self,
        target: Target,
        verdicts: Verdicts,
        lifecycle: Lifecycle,
        *,
        timeout: float,
        interval: float,
        confirmations: int = 2,
        on_poll: Callable[[Observation], None] | None = None,
        labels: dict[str, Provenance] | None = None,
    ) -> None:
        self.labels = labels or {}
        self.confirmations = confirmations
        self.on_poll = on_poll
        self.target = target
        self.verdicts = verdicts
        self.lifecycle = lifecycle
        self.timeout = timeout
        self.interval = interval
        self.phase_of = {word: phase for words in lifecycle.vocabularies.values() for phase, word in words.items()}
        self.reachable = {p: reachable_from(lifecycle, p) for p in lifecycle.phases}

    @classmethod
    def for_spec(
        cls, spec: ApiSpec, target: Target, verdicts: Verdicts, *, timeout: float, interval: float
    ) -> TaskWatcher:
        """A watcher that holds tasks to ``spec``'s lifecycle, each promise judged by its label."""
        return cls(target, verdicts, spec.lifecycle, timeout=timeout, interval=interval, labels=lifecycle_labels(spec))

    def start(self, created: Exchange) -> Observation:
        """Check the create's answer and begin an observation of the task it made."""
        parsed = created.json()
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        info: dict[str, Any] = body["task_info"] if isinstance(body.get("task_info"), dict) else {}
        task_id = str(info.get("id", ""))
        observation = Observation(task_id, created)
        if not _is_uuid(task_id):
            observation.violations.append(
                violation(
                    "lifecycle.id",
                    "The create gave no usable task id",
                    "task_info.id: a UUID",
                    created,
                    label=self.labels.get("lifecycle.id"),
                )
            )
            return observation
        status = info.get("status")
        phase = self.phase_of.get(status) if isinstance(status, str) else None
        words = " or ".join(v[self.lifecycle.initial] for v in self.lifecycle.vocabularies.values())
        if "status" not in info:  # one reading of the docs: a create answers without a status
            check, title = "lifecycle.status-on-create", "A new task's answer has no status"
            observation.violations.append(violation(check, title, words, created, label=self.labels.get(check)))
        elif phase != self.lifecycle.initial:
            check, title = "lifecycle.initial-status", f"A new task's status is {status!r}"
            observation.violations.append(violation(check, title, words, created, label=self.labels.get(check)))
        # Its first poll must follow on from what the create said.
        observation.phase = phase
        return observation

    def follow(self, observations: list[Observation]) -> list[Observation]:
        """Poll every observed task until all have ended or the timeout passes; check each answer.

        A task seen in a terminal status is polled ``confirmations`` more times, ``interval`` apart,
        even past the timeout: terminal means final, however late the task finished.
        """
        active = [o for o in observations if _is_uuid(o.task_id)]
        after_end = {o.task_id: 0 for o in active}
        deadline = time.monotonic() + self.timeout
        while active:
            for observation in list(active):
                self._poll(observation)
                if self.on_poll is not None:
                    self.on_poll(observation)
                if observation.phase in self.lifecycle.terminal:
                    after_end[observation.task_id] += 1
                settled = any(v.check == "lifecycle.terminal-final" for v in observation.violations)
                if after_end[observation.task_id] > self.confirmations or settled or len(observation.violations) > 20:
                    active.remove(observation)
            if not active:
                break
            if time.monotonic() >= deadline:
                # Only a task never seen terminal is late; one seen terminal is still confirmed.
                for observation in [o for o in active if after_end[o.task_id] == 0]:
                    observation.violations.append(self._never_finished(observation))
                    active.remove(observation)
                if not active:
                    break
            time.sleep(self.interval)
        for observation in observations:
            if observation.phase == "succeeded" and observation.last is not None:
                observation.violations += self._check_video(observation.last)
        return observations

    def _poll(self, observation: Observation) -> None:
        before = len(observation.violations)
        try:
            self._check_poll(observation)
        finally:
            # Each finding of this poll, judged by the label of the promise it holds.
            found = observation.violations
            found[before:] = [
                f.under(self.labels.get(f.check)) if f.basis == "documented" else f for f in found[before:]
            ]

    def _check_poll(self, observation: Observation) -> None:
        exchange = self.target.poll(observation.task_id)
        previous = observation.last
        observation.last = exchange
        found = observation.violations
        if exchange.status != 200:
            if not self.verdicts.says_nothing(exchange, POLL_OPERATION):
                found.append(
                    violation("lifecycle.poll", "Polling an existing task failed", "200 with task_info", exchange)
                )
            return  # a rate limit (or the like) says nothing of the task: the next poll asks again
        found += self.verdicts.conformance(exchange)
        body = exchange.json()
        if not isinstance(body, dict) or not isinstance(body.get("task_info"), dict):
            return  # the schema check above has said what is missing
        info = body["task_info"]
        if info.get("id") != observation.task_id:
            found.append(
                violation(
                    "lifecycle.id-stable",
                    "The task id changed between create and poll",
                    f"task_info.id = {observation.task_id}",
                    exchange,
                )
            )
        status = info.get("status")
        phase = self.phase_of.get(status) if isinstance(status, str) else None
        if phase is None:
            found.append(
                violation(
                    "lifecycle.status-word",
                    f"Status {status!r} is in neither vocabulary",
                    ", ".join(sorted(self.phase_of)),
                    exchange,
                )
            )
            return
        observation.statuses.append(str(status))
        found += check_move(self.lifecycle, self.reachable, observation.phase, phase, previous, exchange)
        found += check_result(phase, body, exchange)
        found += check_times(info, previous, exchange)
        observation.phase = phase

    def _check_video(self, exchange: Exchange) -> list[Finding]:
        videos = exchange.json().get("videos") or []
        url = videos[0] if videos and isinstance(videos[0], str) else None
        if url is None:
            return []
        download = self.target.request("GET", url)
        if download.status != 200:
            return [
                violation(
                    "lifecycle.video-downloads",
                    "The result video could not be downloaded",
                    "200 with the video",
                    download,
                )
            ]
        if MP4_SIGNATURE not in download.response_body[:64]:
            check = "lifecycle.video-container"
            title = "The result video is not an MP4 file"
            return [violation(check, title, "an MP4 file (ftyp box)", download, label=self.labels.get(check))]
        return []

    def _never_finished(self, observation: Observation) -> Finding:
        seen = " -> ".join(dict.fromkeys(observation.statuses)) or "no status"
        return violation(
            "lifecycle.finishes",
            f"Task {observation.task_id} did not finish within TASK_TIMEOUT={self.timeout:g} s",
            f"a terminal status ({', '.join(sorted(self.lifecycle.terminal))}) within {self.timeout:g} s",
            observation.last,
            actual=f"statuses seen: {seen}",
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
