"""Answers to the open questions of the public docs (api-facts §11), from what a run saw.

Each answer says what was observed, with the probes that showed it, what the mock does by default,
and the ``MOCK_*`` settings that would make the mock follow the target.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contract_tests.live.pacing import RetryStats
from contract_tests.live.plan import Probe, follow_readings
from contract_tests.live.run import ProbeResult
from contract_tests.target import Exchange
from sparkspec.openapi import ApiSpec

NOT_OBSERVED_PAID = "not observed: it takes a paid generation (set ALLOW_SPEND or ALLOW_TASKS)"


@dataclass
class Answer:
    """One open question, answered as far as the run could see."""

    number: str
    question: str
    answer: str
    evidence: list[str] = field(default_factory=list)
    mock_default: str = ""
    follow: dict[str, str] = field(default_factory=dict)

    @property
    def observed(self) -> bool:
        return not self.answer.startswith("not observed")


def answer_questions(results: list[ProbeResult], spec: ApiSpec, stats: RetryStats) -> list[Answer]:
    """Every question the run could shed light on, in api-facts order."""
    exchanges = [e for r in results for e in _all_exchanges(r)]
    return [
        _vocabulary(results, spec),
        _error_placement(results),
        _http_error_body(exchanges),
        _rate_limits(exchanges, stats),
        _shot_type(results),
        _open_rules(results),
        _raw_base64_and_image_errors(results),
        _timestamps(exchanges),
        _headers(exchanges),
    ]


def _all_exchanges(result: ProbeResult) -> list[Exchange]:
    polls = [] if result.observation is None or result.observation.last is None else [result.observation.last]
    return [*result.exchanges, *polls]


def _task_infos(exchanges: Iterable[Exchange]) -> list[dict[str, Any]]:
    infos = []
    for exchange in exchanges:
        body = exchange.json()
        if isinstance(body, dict) and isinstance(body.get("task_info"), dict):
            infos.append(body["task_info"])
    return infos


def _vocabulary(results: list[ProbeResult], spec: ApiSpec) -> Answer:
    answer = Answer("1", "Which status words does the target use, and which does a create return?", "")
    vocabularies = spec.lifecycle.vocabularies
    answer.mock_default = "guide: queued, running, succeeded, failed; a create says queued"
    words: list[str] = []
    created: list[str] = []
    for result in results:
        if result.observation is None:
            continue
        first = result.exchanges[0].json() if result.exchanges else None
        if isinstance(first, dict) and isinstance(first.get("task_info"), dict):
            created.append(str(first["task_info"].get("status")))
        words += result.observation.statuses
        answer.evidence.append(result.probe.id)
    if not words and not created:
        answer.answer = NOT_OBSERVED_PAID
        return answer
    seen = set(words) | set(created)
    matching = [name for name, vocab in vocabularies.items() if seen <= set(vocab.values())]
    if matching:
        answer.answer = f"the {matching[0]} vocabulary ({', '.join(sorted(seen))})"
        answer.follow = {"MOCK_VOCABULARY": matching[0]}
    else:
        answer.answer = f"a mix that fits neither vocabulary: {', '.join(sorted(seen))}"
    if created:
        answer.answer += f"; a create answers with status {', '.join(sorted(set(created)))}"
    return answer


def _error_placement(results: list[ProbeResult]) -> Answer:
    answer = Answer("2", "Where does a failed task's error sit, and is its code `code` or `error_code`?", "")
    answer.mock_default = "task_info.error, with both code and error_code"
    for result in results:
        observation = result.observation
        if observation is None or observation.phase != "failed" or observation.last is None:
            continue
        body = observation.last.json()
        info = body.get("task_info", {}) if isinstance(body, dict) else {}
        inside, outside = info.get("error"), body.get("error") if isinstance(body, dict) else None
        where = (
            "task_info.error" if isinstance(inside, dict) else "top-level error" if isinstance(outside, dict) else None
        )
        error = inside if isinstance(inside, dict) else outside
        keys = ", ".join(sorted(error)) if isinstance(error, dict) else "none"
        answer.answer = f"{where or 'nowhere'} (keys: {keys}): {json.dumps(error, ensure_ascii=False)[:200]}"
        answer.evidence.append(result.probe.id)
        if where == "top-level error":
            answer.follow = {"MOCK_ERROR_PLACEMENT": "top_level"}
        return answer
    answer.answer = (
        "not observed: no task the run followed failed" if any(r.observation for r in results) else NOT_OBSERVED_PAID
    )
    return answer


def _http_error_body(exchanges: list[Exchange]) -> Answer:
    answer = Answer("3", "What does the body of an HTTP error look like?", "")
    answer.mock_default = '{"error_code": <int>, "title": <string>, "detail": <string>}'
    shapes: Counter[str] = Counter()
    example: dict[str, str] = {}
    for exchange in exchanges:
        if exchange.status < 400:
            continue
        body = exchange.json()
        shape = (
            "{" + ", ".join(f"{k}: {_json_type(v)}" for k, v in sorted(body.items())) + "}"
            if isinstance(body, dict)
            else f"not a JSON object ({exchange.content_type or 'no content type'})"
        )
        shapes[shape] += 1
        example.setdefault(shape, f"{exchange.status}: {exchange.response_body[:200].decode(errors='replace')}")
    if not shapes:
        answer.answer = "not observed: no error answer"
        return answer
    answer.answer = "; ".join(f"{shape} ({count}×), e.g. {example[shape]}" for shape, count in shapes.most_common(3))
    answer.evidence = [f"{sum(shapes.values())} error answers"]
    return answer


def _rate_limits(exchanges: list[Exchange], stats: RetryStats) -> Answer:
    answer = Answer("4", "What happens at the rate limit: Retry-After, rate-limit headers?", "")
    answer.mock_default = "429 with Retry-After only when a scenario asks for it"
    limit_headers = sorted({h for e in exchanges for h in e.response_headers if "ratelimit" in h})
    if not stats.rate_limited and not limit_headers:
        answer.answer = "not observed: the run was never rate limited and saw no rate-limit headers"
        return answer
    values = sorted(set(stats.retry_after_values))
    without = stats.rate_limited - len(stats.retry_after_values)
    answer.answer = (
        f"{stats.rate_limited} answers of 429 (retried); Retry-After: {', '.join(values) or 'never sent'}"
        + (f" ({without} without it)" if without and values else "")
        + f"; rate-limit headers: {', '.join(limit_headers) or 'none'}"
    )
    return answer


def _shot_type(results: list[ProbeResult]) -> Answer:
    answer = Answer("6", "Does the target validate `shot_type`, `multi_shots`, or both?", "")
    answer.mock_default = "both are validated; shot_type wins when both are sent (MOCK_SHOT_FIELD picks one)"
    return _open_answer(answer, results, "MOCK_SHOT_FIELD")


def _open_rules(results: list[ProbeResult]) -> Answer:
    """What the target does with each request whose refusal the docs do not state (paid probes)."""
    answer = Answer("rules", "What does the target do where the docs are silent (null, long URLs, ...)?", "")
    answer.mock_default = "refuses null in a field typed string (MOCK_NULLS=absent reads it as absent)"
    return _open_answer(answer, results, "MOCK_NULLS")


def _open_answer(answer: Answer, results: list[ProbeResult], setting: str) -> Answer:
    """``answer``, from what came back to the probes of its question, and the ``setting`` that follows it."""
    parts = []
    for result in results:
        if result.probe.question != answer.number or not result.exchanges:
            continue
        status = result.exchanges[0].status
        answer.evidence.append(result.probe.id)
        if result.probe.expect == "accept":
            parts.append(f"{result.probe.title} got {status}")
        else:
            verdict = "accepted" if 200 <= status < 300 else f"refused ({status})"
            parts.append(f"{result.probe.title.split(' (the docs')[0]}: {verdict}")
    answer.follow = {k: v for k, v in follow_readings(_outcomes(results)).items() if k == setting}
    answer.answer = "; ".join(dict.fromkeys(parts)) or NOT_OBSERVED_PAID
    return answer


def _outcomes(results: list[ProbeResult]) -> list[tuple[Probe, int]]:
    return [(r.probe, r.exchanges[0].status) for r in results if r.exchanges]


def _raw_base64_and_image_errors(results: list[ProbeResult]) -> Answer:
    answer = Answer("7", "Is raw Base64 accepted, and does a bad image fail at create or as a task?", "")
    answer.mock_default = "raw Base64 is accepted; a bad image gets 400 at create"
    parts = []
    for result in results:
        if result.probe.question != "7" or not result.exchanges:
            continue
        exchange = result.exchanges[0]
        answer.evidence.append(result.probe.id)
        if result.probe.id == "paid.raw-base64-image":
            parts.append(
                f"raw Base64: {'accepted' if 200 <= exchange.status < 300 else f'refused ({exchange.status})'}"
            )
        elif 200 <= exchange.status < 300 and result.observation is not None:
            parts.append(f"a too-small image was accepted and the task ended {result.observation.phase}")
        else:
            parts.append(f"a too-small image was refused at create with {exchange.status}")
    answer.answer = "; ".join(parts) or NOT_OBSERVED_PAID
    return answer


def _timestamps(exchanges: list[Exchange]) -> Answer:
    answer = Answer("11", "What do timestamps look like?", "")
    answer.mock_default = "seconds with Z: 2025-09-16T10:00:00Z"
    stamps = [str(info.get("created_at")) for info in _task_infos(exchanges) if info.get("created_at")]
    if not stamps:
        answer.answer = NOT_OBSERVED_PAID
        return answer
    styles = Counter("microseconds" if "." in s else "seconds" for s in stamps)
    answer.answer = f"{', '.join(f'{k} ({v}×)' for k, v in styles.items())}, e.g. {stamps[0]}"
    if styles.get("microseconds"):
        answer.follow = {"MOCK_TIMESTAMPS": "micro"}
    return answer


def _headers(exchanges: list[Exchange]) -> Answer:
    answer = Answer("—", "Which headers come back (Traceparent on every answer)?", "")
    answer.mock_default = "Traceparent on every answer; Retry-After on a 429"
    answered = [e for e in exchanges if e.status]
    if not answered:
        answer.answer = "not observed"
        return answer
    with_trace = sum(1 for e in answered if "traceparent" in e.response_headers)
    names = Counter(h for e in answered for h in e.response_headers)
    common = ", ".join(f"{h} ({n})" for h, n in names.most_common(12))
    answer.answer = f"Traceparent on {with_trace} of {len(answered)} answers; headers seen: {common}"
    return answer


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null"
    )
