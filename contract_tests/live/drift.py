"""Drift: replay a recorded live run against the mock and report every way the mock answers differently.

The mock runs in-process on a manual clock. Before each recorded poll, its clock is moved to the
moment its own task reaches the status the recording showed (if it ever does), so that the
comparison is about what the target says, not about how long generation takes.

Compared, call by call: the status code, the content type, the shape of the body (its keys and
value types, not its values), error codes, status words, and the API's own headers. Then, task by
task, the sequence of status words.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from contract_tests.live.cassette import final_attempts, sha256_of
from contract_tests.live.drift_report import Difference, DriftReport, Uncompared
from contract_tests.live.plan import Probe, build_plan, follow_readings
from mockserver import ManualClock, Settings, create_app
from sparkspec.openapi import ApiSpec

API_HEADERS = ("traceparent", "retry-after", "allow", "www-authenticate")
MOCK_KEY = "sk-mr-drift-replay"


def follow_settings(document: dict[str, Any], spec: ApiSpec) -> dict[str, str]:
    """The ``MOCK_*`` settings under which the mock would say what the recording showed."""
    words: set[str] = set()
    follow: dict[str, str] = {}
    for interaction in final_attempts(document):
        body = interaction["response"]["body"]
        if not isinstance(body, dict) or not isinstance(body.get("task_info"), dict):
            continue
        info = body["task_info"]
        if isinstance(info.get("status"), str):
            words.add(info["status"])
        if isinstance(body.get("error"), dict) and not isinstance(info.get("error"), dict):
            follow["MOCK_ERROR_PLACEMENT"] = "top_level"
        if "." in str(info.get("created_at", "")):
            follow["MOCK_TIMESTAMPS"] = "micro"
    for name, vocabulary in spec.lifecycle.vocabularies.items():
        if words and words <= set(vocabulary.values()):
            follow["MOCK_VOCABULARY"] = name
            break
    plan = {probe.id: probe for probe in build_plan(spec)}
    outcomes = [
        (plan[i["probe"]], int(i["response"]["status"]))
        for i in final_attempts(document)
        if i.get("probe") in plan and i["request"]["method"] == "POST"
    ]
    follow |= follow_readings(outcomes)
    return dict(sorted(follow.items()))


def replay(document: dict[str, Any], spec: ApiSpec, settings: Settings, cassette_name: str = "") -> DriftReport:
    """Replay the final attempt of every recorded call against a fresh mock; return the differences."""
    plan = {probe.id: probe for probe in build_plan(spec)}
    app = create_app(settings, clock=ManualClock(), spec=spec)
    create_path = spec.operation("createGeneration").path
    poll_prefix = spec.operation("getGeneration").path.replace("{task_id}", "")
    phase_of = {w: p for vocab in spec.lifecycle.vocabularies.values() for p, w in vocab.items()}
    report = DriftReport(
        cassette=cassette_name,
        target=str(document.get("target", "")),
        settings={k: str(v) for k, v in _changed(settings).items()},
        follow=follow_settings(document, spec),
        calls=0,
    )
    ids: dict[str, str] = {}
    lost: dict[str, list[int]] = {}  # tasks the target created and the mock did not: their calls, unreplayed
    sequences: dict[str, tuple[list[str], list[str]]] = {}
    with TestClient(app, base_url="http://mock", raise_server_exceptions=False) as client:
        for interaction in final_attempts(document):
            report.calls += 1
            call, probe_id = interaction["call"], interaction["probe"]
            request, recorded = interaction["request"], interaction["response"]
            why = _not_comparable(recorded["status"])
            if why:
                shown = f"{request['method']} {request['path']}"
                report.not_comparable.append(Uncompared(call, probe_id, shown, recorded["status"], why))
                continue
            probe = plan.get(probe_id)
            headers = _headers(probe)
            if request["method"] == "POST" and request["path"].endswith(create_path):
                if probe is None or sha256_of(probe.content) != request.get("body_sha256"):
                    report.differences.append(
                        Difference(
                            call,
                            probe_id,
                            "request",
                            "recorded request",
                            "cannot be rebuilt: the plan changed since the recording",
                        )
                    )
                    continue
                answer = client.post(
                    create_path, content=probe.content, headers={"Content-Type": "application/json", **headers}
                )
                recorded_id, mock_id = _task_id(recorded["body"]), _task_id(_json(answer.content))
                if recorded_id and mock_id:
                    ids[recorded_id] = mock_id
                elif recorded_id:
                    lost[recorded_id] = []
            elif request["method"] == "GET" and poll_prefix in request["path"]:
                recorded_id = request["path"].rsplit("/", 1)[-1]
                if recorded_id in lost:
                    lost[recorded_id].append(call)
                    continue
                mock_id = ids.get(recorded_id, recorded_id)
                word = _status_word(recorded["body"])
                if mock_id in ids.values() and word in phase_of:
                    _align(client, mock_id, phase_of[word])
                answer = client.get(f"{poll_prefix}{mock_id}", headers=headers)
                if recorded_id in ids:
                    mock_word = _status_word(_json(answer.content))
                    recorded_words, mock_words = sequences.setdefault(recorded_id, ([], []))
                    recorded_words.append(word or "?")
                    mock_words.append(mock_word or "?")
            elif request["method"] == "GET":
                if any(r in request["path"] for r in lost):
                    continue
                recorded_id = next((r for r in ids if r in request["path"]), None)
                if recorded_id is None:
                    continue  # a URL of the target's own that the mock has no counterpart for
                answer = client.get(client.get(f"/__mock/tasks/{ids[recorded_id]}").json()["video_path"])
                report.differences += _compare_download(
                    call, probe_id, recorded, answer.status_code, dict(answer.headers)
                )
                continue
            else:
                continue
            report.differences += _compare(
                call, probe_id, recorded, answer.status_code, dict(answer.headers), _json(answer.content)
            )
    for recorded_id, calls in lost.items():
        report.differences.append(
            Difference(
                min(calls, default=0),
                recorded_id,
                "task",
                f"created, then polled {len(calls)} times",
                "the mock created no task",
            )
        )
    for recorded_id, (recorded_words, mock_words) in sequences.items():
        before, after = _dedupe(recorded_words), _dedupe(mock_words)
        if before != after:
            report.differences.append(
                Difference(0, recorded_id, "status sequence", " → ".join(before), " → ".join(after))
            )
    return report


def _align(client: TestClient, task_id: str, phase: str) -> None:
    """Move the mock's clock, through its admin API, to the first moment its task is in ``phase`` (or
    has ended, if it never passes through ``phase``), if that moment is still ahead."""
    described = client.get(f"/__mock/tasks/{task_id}")
    if described.status_code != 200:
        return
    task = described.json()
    if task["phase"] == phase:
        return
    # The moment it enters ``phase``, if that is still ahead; else the moment it ends (never, if it stalls).
    moment = task["timeline"].get(phase)
    if moment is None or moment < task["age_seconds"]:
        moment = list(task["timeline"].values())[-1]
    if moment is not None and moment > task["age_seconds"]:
        client.post("/__mock/clock/advance", json={"seconds": moment - task["age_seconds"] + 1e-6})


def _not_comparable(status: int) -> str:
    """Why a recorded answer cannot be held against the mock, or ``""`` when it can."""
    if status == 0:
        return "no answer: the request failed in the network"
    if status == 429:
        return "rate-limited: the target did not judge the request"
    if status >= 500:
        return "a server error at the target: the mock answers as the API does when it works"
    return ""


def _compare(
    call: int, probe: str, recorded: dict[str, Any], status: int, headers: dict[str, str], body: Any
) -> list[Difference]:
    found = []
    if recorded["status"] != status:
        found.append(Difference(call, probe, "status", str(recorded["status"]), str(status)))
    recorded_type = _media(recorded["headers"].get("content-type", ""))
    if recorded_type != _media(headers.get("content-type", "")):
        found.append(Difference(call, probe, "content-type", recorded_type, _media(headers.get("content-type", ""))))
    recorded_shape, mock_shape = _shape(recorded["body"]), _shape(body)
    if recorded_shape != mock_shape:
        found.append(Difference(call, probe, "body shape", json.dumps(recorded_shape), json.dumps(mock_shape)))
    recorded_codes, mock_codes = _error_codes(recorded["body"]), _error_codes(body)
    if recorded_codes != mock_codes:
        found.append(Difference(call, probe, "error code", str(recorded_codes), str(mock_codes)))
    recorded_word, mock_word = _status_word(recorded["body"]), _status_word(body)
    if recorded_word != mock_word:
        found.append(Difference(call, probe, "status word", str(recorded_word), str(mock_word)))
    recorded_headers, mock_headers = _api_headers(recorded["headers"]), _api_headers(headers)
    if recorded_headers != mock_headers:
        found.append(
            Difference(call, probe, "headers", ", ".join(recorded_headers) or "none", ", ".join(mock_headers) or "none")
        )
    return found


def _compare_download(
    call: int, probe: str, recorded: dict[str, Any], status: int, headers: dict[str, str]
) -> list[Difference]:
    found = []
    if recorded["status"] != status:
        found.append(Difference(call, probe, "video status", str(recorded["status"]), str(status)))
    if _media(recorded["headers"].get("content-type", "")) != _media(headers.get("content-type", "")):
        found.append(
            Difference(
                call,
                probe,
                "video content-type",
                recorded["headers"].get("content-type", ""),
                headers.get("content-type", ""),
            )
        )
    return found


def _headers(probe: Probe | None) -> dict[str, str]:
    if probe is None:
        return {"Authorization": f"Bearer {MOCK_KEY}"}
    return {**({"Authorization": f"Bearer {MOCK_KEY}"} if probe.auth else {}), **probe.headers}


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        if "$digest" in value or "$text" in value:
            return "string" if "$digest" in value else "text"
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(value), "null")


def _error_codes(body: Any) -> list[int]:
    if not isinstance(body, dict):
        return []
    info: dict[str, Any] = body["task_info"] if isinstance(body.get("task_info"), dict) else {}
    found = []
    for holder in (body, body.get("error"), info.get("error")):
        if isinstance(holder, dict):
            found += [holder[k] for k in ("error_code", "code") if isinstance(holder.get(k), int)]
    return sorted(set(found))


def _status_word(body: Any) -> str | None:
    info = body.get("task_info") if isinstance(body, dict) else None
    return str(info["status"]) if isinstance(info, dict) and "status" in info else None


def _task_id(body: Any) -> str | None:
    info = body.get("task_info") if isinstance(body, dict) else None
    return str(info["id"]) if isinstance(info, dict) and "id" in info else None


def _api_headers(headers: dict[str, str]) -> list[str]:
    names = {name.lower() for name in headers}
    return sorted(n for n in names if n in API_HEADERS or "ratelimit" in n)


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return {"$text": content.decode(errors="replace")[:200]}


def _dedupe(words: list[str]) -> list[str]:
    return [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]


def _changed(settings: Settings) -> dict[str, Any]:
    defaults = Settings()
    names = ("vocabulary", "error_placement", "timestamps", "scenario")
    return {f"MOCK_{n.upper()}": getattr(settings, n) for n in names if getattr(settings, n) != getattr(defaults, n)}
