"""The plan of a live run: every request it may send, fixed before the first one leaves.

Free probes come first: requests the contract says must be rejected (each invalid edge of the
spec, bodies that are not JSON objects, missing or malformed credentials) and polls of unknown
ids. Paid generations come last, and only with ``ALLOW_SPEND`` or ``ALLOW_TASKS``: the basic
example, a raw Base64 image, an image that breaks a rule, and the ``multi_shots`` spelling.
Everything is derived from the spec and is the same from run to run, so that a dry run shows
exactly what a real run would send and a recording can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contract_tests.boundaries import Edge, base_body, edges
from contract_tests.images import data_uri, make_image, raw_base64
from contract_tests.live.spend import CostModel
from contract_tests.target import CREATE_OPERATION
from mockserver.spec import ApiSpec

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
        paid: A generation the run means to pay for.
        question: The open question of api-facts §11 that the answer helps with, if any.
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

    @property
    def content(self) -> bytes | None:
        """The exact bytes a create sends (what the cost model prices)."""
        if self.kind != "create":
            return None
        return self.raw if self.raw is not None else json.dumps(self.body, ensure_ascii=False).encode()

    @property
    def meant_to_be_rejected(self) -> bool:
        return self.expect in ("reject", "unauthorized")


def build_plan(spec: ApiSpec) -> list[Probe]:
    """Every probe, free ones first, then the paid generations (which the spend guard may skip)."""
    base = base_body(spec)
    probes: list[Probe] = []
    for edge in edges(spec):
        if not edge.valid:
            probes += _edge_probes(edge, base)
    probes += _malformed_probes()
    probes += _auth_probes(base)
    probes += _unknown_task_probes()
    probes += _questions(spec, base)
    probes += _generations(spec, base)
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
        body = dict(base)
        if edge.values is None:
            body.pop(edge.field, None)
        else:
            body[edge.field] = sample
        suffix = f" #{number}" if len(edge.samples) > 1 else ""
        probes.append(
            Probe(
                id=f"reject.{_slug(edge.label)}.{number}",
                title=f"{edge.label}{suffix}",
                kind="create",
                expect="reject",
                spec_says=f"a 4xx in the error shape: {edge.label} breaks `{edge.rule}`",
                body=body,
                question="6" if edge.field == "multi_shots" else None,
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


def _unknown_task_probes() -> list[Probe]:
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
        )
        for n, task_id in enumerate(ids, 1)
    ]


def _questions(spec: ApiSpec, base: dict[str, Any]) -> list[Probe]:
    """Free probes that also tell which spelling of the shot type the target validates (§11, 6)."""
    return [
        Probe(
            f"question.{field_name}-is-validated",
            f'{field_name} = "triple" (not a shot type)',
            "create",
            "reject",
            f"a 4xx in the error shape: {field_name} is an enum of the spec",
            body={**base, "prompt_extend": True, field_name: "triple"},
            group="questions",
            question="6",
        )
        for field_name in ("shot_type", "multi_shots")
        if field_name in spec.request_schema(CREATE_OPERATION).get("properties", {})
    ]


def _generations(spec: ApiSpec, base: dict[str, Any]) -> list[Probe]:
    rules = next(iter(spec.schemas_with_extension("x-image-rules").values()))["x-image-rules"]
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
