"""The plan of a live run: every request it may send, fixed before the first one leaves.

Free probes come first: missing or malformed credentials, polls of unknown ids, bodies that are not
JSON objects, and requests whose rejection the docs state (each invalid edge of the spec whose
``x-provenance`` label is documented). A request whose rejection is only disputed or assumed (``null``
in a field typed ``string``, a value of a disputed enum, an 8,193-character ``audio_url``) may well be
accepted, and billed, by an API that follows the docs: it is planned, priced and guarded as a paid
generation, and its answer goes to the report's answers to the open questions. Paid generations
come last, and only with ``ALLOW_SPEND`` or ``ALLOW_TASKS``: the basic example, a raw Base64 image,
an image that breaks a rule, the ``multi_shots`` spelling, and those open probes.
Everything is derived from the spec and is the same from run to run, so that a dry run shows
exactly what a real run would send and a recording can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contract_tests.boundaries import Edge, base_body, edges
from contract_tests.images import data_uri, make_image, raw_base64
from contract_tests.live.spend import CostModel
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenance, Provenances

Expect = Literal["reject", "accept", "reject-or-fail", "unauthorized", "not-found"]
_NAMESPACE = uuid.UUID("6f7a1c3e-2d4b-4c8e-9a1f-0b5d3e7c9a21")


@dataclass(frozen=True)
class Probe:
    """One planned request, and what the contract says must come back.

    Attributes:
        id: Stable across runs; cassettes refer to probes by it.
        title: What it is, in words.
        kind: ``create`` or ``poll``.
        expect: ``reject`` (a documented 4xx), ``accept`` (202, then a task that finishes),
            ``reject-or-fail`` (a 4xx, or a task that fails: never a video), ``unauthorized``
            (401) or ``not-found`` (404).
        spec_says: The contract's promise, in words, for the report.
        body: The JSON body of a create; ``raw`` replaces it with bytes.
        paid: A generation the run means to pay for (also a probe whose rejection the docs do not state).
        question: The open question of api-facts §11 that the answer helps with, if any.
        provenance: The label of the rule the probe holds the target to.
        documented: Whether the docs state what must come back; when not, the other answer is a
            deviation, not a failure.
    """

    id: str
    title: str
    kind: Literal["create", "poll"]
    expect: Expect
    spec_says: str
    body: Any = None
    raw: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: bool = True
    task_id: str | None = None
    paid: bool = False
    group: str = "constraints"
    question: str | None = None
    provenance: Provenance | None = field(default=None, compare=False, repr=False)
    documented: bool = True
    field_name: str | None = None

    @property
    def content(self) -> bytes | None:
        """The exact bytes a create sends (what the cost model prices)."""
        if self.kind != "create":
            return None
        return self.raw if self.raw is not None else json.dumps(self.body, ensure_ascii=False).encode()

    @property
    def meant_to_be_rejected(self) -> bool:
        """Whether the docs say the target refuses it, so that it is sent as a free probe."""
        return self.expect in ("reject", "unauthorized") and self.documented


def build_plan(spec: ApiSpec) -> list[Probe]:
    """Every probe, free ones first, then the paid generations (which the spend guard may skip)."""
    base = base_body(spec)
    probes: list[Probe] = []
    probes += _auth_probes(base)
    probes += _unknown_task_probes(spec)
    probes += _malformed_probes()
    for edge in edges(spec):
        if not edge.valid and edge.documented:
            probes += _edge_probes(edge, base)
    probes += _generations(spec, base)
    probes += [_open(edge, base) for edge in edges(spec) if not edge.valid and not edge.documented]
    ids = [p.id for p in probes]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"probe ids must be unique: {sorted(duplicates)}")
    return probes


def _slug(text: str) -> str:
    """A readable id for ``text``; a short digest keeps ids apart where case or spaces are the difference."""
    readable = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:70]
    return f"{readable}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def _edge_probes(edge: Edge, base: dict[str, Any]) -> list[Probe]:
    probes = []
    for number, sample in enumerate(edge.samples, 1):
        suffix = f" #{number}" if len(edge.samples) > 1 else ""
        probes.append(
            Probe(
                id=f"reject.{_slug(edge.label)}.{number}",
                title=f"{edge.label}{suffix}",
                kind="create",
                expect="reject",
                spec_says=f"a 4xx in the error shape: {edge.label} breaks `{edge.rule}`",
                body=edge.body(base, sample),
                question="6" if edge.field in ("shot_type", "multi_shots") else None,
            )
        )
    return probes


def _malformed_probes() -> list[Probe]:
    bodies = {"not JSON": b"{this is not json", "a JSON array": b"[]", "an empty body": b""}
    return [
        Probe(
            f"reject.body-{_slug(name)}",
            f"a body that is {name}",
            "create",
            "reject",
            "a 4xx in the error shape: the body must be a JSON object",
            raw=raw,
            group="bodies",
        )
        for name, raw in bodies.items()
    ]


def _auth_probes(base: dict[str, Any]) -> list[Probe]:
    credentials = {
        "no Authorization header": {},
        "a Bearer without a token": {"Authorization": "Bearer"},
        "the Basic scheme": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
    }
    probes = [
        Probe(
            f"auth.create-{_slug(name)}",
            f"create with {name}",
            "create",
            "unauthorized",
            "401: both operations require a bearer token",
            body=base,
            headers=headers,
            auth=False,
            group="auth",
        )
        for name, headers in credentials.items()
    ]
    probes.append(
        Probe(
            "auth.poll-no-authorization-header",
            "poll with no Authorization header",
            "poll",
            "unauthorized",
            "401: both operations require a bearer token",
            task_id=str(uuid.uuid5(_NAMESPACE, "auth")),
            auth=False,
            group="auth",
        )
    )
    return probes


def _unknown_task_probes(spec: ApiSpec) -> list[Probe]:
    not_found = spec.resolve(spec.operation("getGeneration").node["responses"]["404"])
    non_uuid = Provenances(spec).label(not_found, "non-uuid")
    ids = [str(uuid.uuid5(_NAMESPACE, f"unknown-{n}")) for n in (1, 2)] + ["not-a-task-id"]
    return [
        Probe(
            f"poll.unknown-{n}",
            f"poll of an unknown task id ({task_id})",
            "poll",
            "not-found",
            "404 in the error shape: no such task",
            task_id=task_id,
            group="polls",
            provenance=None if _is_uuid(task_id) else non_uuid,
            documented=_is_uuid(task_id),
        )
        for n, task_id in enumerate(ids, 1)
    ]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _open(edge: Edge, base: dict[str, Any]) -> Probe:
    """A probe whose rejection the docs do not state: priced and guarded as a paid generation."""
    return Probe(
        id=f"open.{_slug(edge.label)}",
        title=f"{edge.label} (the docs do not say it is refused)",
        kind="create",
        expect="reject",
        spec_says=f"this contract refuses it ({edge.rule}); a target that follows the docs may accept it",
        body=edge.body(base, edge.samples[0]),
        paid=True,
        group="open-questions",
        question="6" if edge.field in ("shot_type", "multi_shots") else "rules",
        provenance=edge.provenance,
        documented=False,
        field_name=edge.field,
    )


def _generations(spec: ApiSpec, base: dict[str, Any]) -> list[Probe]:
    rules = next(iter(spec.schemas_with_extension("x-image-rules").values()))["x-image-rules"]
    image_labels = Provenances(spec).of(rules)
    low = int(rules["min-side"])
    shortest = {**base, "duration": min(CostModel.from_spec(spec, 0.0).durations)}
    return [
        Probe(
            "paid.basic-example",
            "a generation of the spec's basic example",
            "create",
            "accept",
            "202, then a task that walks the lifecycle to a terminal status",
            body=shortest,
            paid=True,
            group="generations",
            question="1",
        ),
        Probe(
            "paid.raw-base64-image",
            "a generation from a raw Base64 image (no data: prefix)",
            "create",
            "accept",
            "202: raw Base64 is one form of image-url-or-base64",
            paid=True,
            group="generations",
            question="7",
            body={**shortest, "image": raw_base64(make_image("PNG", low + 40, low + 40))},
            provenance=image_labels.get("raw-base64"),
            documented=image_labels["raw-base64"].documented if "raw-base64" in image_labels else True,
        ),
        Probe(
            "paid.image-too-small",
            f"a generation from an image {low - 1} px wide",
            "create",
            "reject-or-fail",
            "a 4xx at create, or a task that fails: never a video",
            paid=True,
            group="generations",
            question="7",
            body={**shortest, "image": data_uri(make_image("PNG", low - 1, low + 40))},
        ),
        Probe(
            "paid.multi-shots-spelling",
            "a generation asking for multi_shots = multi",
            "create",
            "accept",
            "202: multi_shots is the prose spelling of shot_type",
            paid=True,
            group="generations",
            question="6",
            body={**shortest, "prompt_extend": True, "multi_shots": "multi"},
        ),
    ]


def follow_readings(outcomes: Iterable[tuple[Probe, int]]) -> dict[str, str]:
    """The ``MOCK_*`` settings under which the mock would read the docs as the target did, from the
    statuses it gave the probes whose refusal the docs do not state."""
    taken: dict[str, dict[str, list[bool]]] = {}
    for probe, status in outcomes:
        if probe.documented or probe.provenance is None or probe.provenance.setting is None or not status:
            continue
        by_field = taken.setdefault(probe.provenance.setting, {})
        by_field.setdefault(probe.field_name or "", []).append(200 <= status < 300)
    follow: dict[str, str] = {}
    nulls = [accepted for seen in taken.get("MOCK_NULLS", {}).values() for accepted in seen]
    if nulls and all(nulls):
        follow["MOCK_NULLS"] = "absent"
    shots = taken.get("MOCK_SHOT_FIELD", {})
    ignored = [name for name, seen in shots.items() if seen and all(seen)]
    validated = [name for name, seen in shots.items() if seen and not any(seen)]
    if len(ignored) == 1 and len(validated) == 1:
        follow["MOCK_SHOT_FIELD"] = validated[0]
    return follow
