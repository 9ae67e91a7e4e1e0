"""The promises one poll of a task must keep, given the poll before it: pure functions of the lifecycle
and of what came back, which :class:`~contract_tests.lifecycle.TaskWatcher` calls on every answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from contract_tests.findings import Finding, violation
from contract_tests.target import Exchange
from sparkspec.openapi import Lifecycle


def check_move(
    lifecycle: Lifecycle,
    reachable: Mapping[str, set[str]],
    before: str | None,
    after: str,
    previous: Exchange | None,
    exchange: Exchange,
) -> list[Finding]:
    """What breaks the lifecycle in a move from ``before`` to ``after``: leaving a terminal status, a
    terminal result that changes, a move back."""
    if before is None:
        return []
    if before in lifecycle.terminal:
        if after != before:
            return [
                violation(
                    "lifecycle.terminal-final",
                    f"A task left its terminal status {before}",
                    f"{before}, for good",
                    exchange,
                )
            ]
        if previous is not None and has_info(previous) and _result(previous) != _result(exchange):
            return [
                violation(
                    "lifecycle.result-stable",
                    f"A {before} task's result changed between polls",
                    "the same videos (or the same error) on every poll",
                    exchange,
                )
            ]
        return []
    if after not in reachable[before]:
        return [
            violation(
                "lifecycle.forward-only",
                f"A task went from {before} back to {after}",
                f"a status reachable from {before}: {', '.join(sorted(reachable[before]))}",
                exchange,
            )
        ]
    return []


def check_result(phase: str, body: dict[str, Any], exchange: Exchange) -> list[Finding]:
    """Videos exactly when succeeded; the error object exactly when failed."""
    found = []
    videos = body.get("videos")
    has_videos = isinstance(videos, list)  # an empty list breaks minItems (an assumed rule), not this one
    if (phase == "succeeded") != has_videos:
        expected = "videos: a non-empty list of URLs" if phase == "succeeded" else "no videos before success"
        found.append(
            violation("lifecycle.videos-iff-succeeded", f"videos and status {phase} disagree", expected, exchange)
        )
    info = body["task_info"]
    has_error = isinstance(info.get("error"), dict) or isinstance(body.get("error"), dict)
    if (phase == "failed") != has_error:
        expected = "an error object (task_info.error or error)" if phase == "failed" else "no error object"
        found.append(
            violation("lifecycle.error-iff-failed", f"The error object and status {phase} disagree", expected, exchange)
        )
    return found


def check_times(info: dict[str, Any], previous: Exchange | None, exchange: Exchange) -> list[Finding]:
    """ISO 8601 timestamps; ``created_at`` stable and ``updated_at`` never going back, from poll to poll."""
    created, updated = _timestamp(info.get("created_at")), _timestamp(info.get("updated_at"))
    if created is None or updated is None:
        return [
            violation(
                "lifecycle.timestamps",
                "A timestamp is not ISO 8601",
                "created_at and updated_at in ISO 8601 (RFC 3339)",
                exchange,
            )
        ]
    found = []
    if updated < created:
        found.append(
            violation(
                "lifecycle.updated-at-monotonic",
                "updated_at is before created_at",
                "updated_at >= created_at",
                exchange,
            )
        )
    before = previous.json()["task_info"] if previous is not None and has_info(previous) else None
    if before is not None:
        earlier_created, earlier_updated = (
            _timestamp(before.get("created_at")),
            _timestamp(before.get("updated_at")),
        )
        if earlier_created is not None and earlier_created != created:
            found.append(
                violation(
                    "lifecycle.created-at-stable",
                    "created_at changed between polls",
                    f"created_at stays {before.get('created_at')}",
                    exchange,
                )
            )
        if earlier_updated is not None and updated < earlier_updated:
            found.append(
                violation(
                    "lifecycle.updated-at-monotonic",
                    "updated_at went backwards",
                    f"updated_at >= {before.get('updated_at')}",
                    exchange,
                )
            )
    return found


def reachable_from(lifecycle: Lifecycle, phase: str) -> set[str]:
    """Every phase a task in ``phase`` may yet be seen in (``phase`` itself included)."""
    seen = {phase}
    frontier = [phase]
    while frontier:
        for following in lifecycle.transitions.get(frontier.pop(), ()):
            if following not in seen:
                seen.add(following)
                frontier.append(following)
    return seen


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def has_info(exchange: Exchange) -> bool:
    body = exchange.json()
    return isinstance(body, dict) and isinstance(body.get("task_info"), dict)


def _result(exchange: Exchange) -> Any:
    body = exchange.json() or {}
    info = body.get("task_info") or {}
    return body.get("videos"), info.get("status"), info.get("error"), body.get("error")
