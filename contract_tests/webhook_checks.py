"""Checks of the webhooks a target sends for a task (api-facts §8): that they arrive, in the documented
envelope and headers, and that their signatures verify.

Each rule is judged by its label in the spec. The envelope, the headers, the events and the HMAC
are documented; how the digest is written and which part of the secret is the key are not
(``x-webhook-signature``): a signature that verifies only under another of those readings is a
deviation, one that verifies under none a violation. A task event's payload is held to the spec as
the poll's answer it is said to be, with the poll's own labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contract_tests.conformance import ResponseChecker
from contract_tests.findings import Finding, violation
from contract_tests.target import POLL_OPERATION
from sparkspec.openapi import ApiSpec, Lifecycle
from sparkspec.provenance import Provenance, Provenances
from sparkspec.webhook_rules import webhook_signing
from sparkspec.webhook_signature import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    VERSION,
    Encoding,
    KeyReading,
    readings_that_verify,
)

TASK_CREATED, TASK_SUCCEEDED, TASK_FAILED = "task.created", "task.succeeded", "task.failed"
# The event that marks each phase a task event stands for (api-facts §4: none for processing).
EVENT_PHASES = {TASK_CREATED: "queued", TASK_SUCCEEDED: "succeeded", TASK_FAILED: "failed"}
SHOWN_BODY = 600
# Any valid trace header: the payload is checked as a poll's body, and a poll's answer must carry one.
_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Received(Protocol):
    """What a receiver kept of one delivery (see :class:`mockserver.WebhookReceiver`); headers by lower-case name."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def headers(self) -> dict[str, str]: ...

    @property
    def body(self) -> bytes: ...

    @property
    def received_at(self) -> float: ...

    def json(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class SigningRules:
    """How the spec says deliveries are signed (``x-webhook-signature``), with each rule's label."""

    encoding: Encoding
    key: KeyReading
    tolerance: float
    labels: Mapping[str, Provenance]

    @classmethod
    def from_spec(cls, spec: ApiSpec) -> SigningRules:
        rules = webhook_signing(spec)
        return cls(rules.encoding, rules.key, rules.tolerance, Provenances(spec).of(rules.node))


class WebhookJudge:
    """Judges the deliveries of one task event.

    Args:
        spec: The contract.
        secret: The endpoint's signing secret (never shown in a finding).
        checker: The run's response checker, which holds a payload to the poll's schema.
        base_url: The target's base URL (a payload is checked as the answer to a poll there).
    """

    def __init__(self, spec: ApiSpec, secret: str, checker: ResponseChecker, base_url: str) -> None:
        self.spec = spec
        self.secret = secret
        self.checker = checker
        self.base_url = base_url.rstrip("/")
        self.signing = SigningRules.from_spec(spec)
        self.lifecycle: Lifecycle = spec.lifecycle
        labels = Provenances(spec)
        schemas = spec.document["components"]["schemas"]
        parameters = spec.document["components"]["parameters"]
        self.envelope_label = labels.label(schemas["TaskWebhookEvent"], "required")
        self.event_label = labels.label(schemas["TaskWebhookEvent"]["properties"]["type"], "enum")
        self.header_label = labels.label(parameters["WebhookId"], "required")
        sender = schemas["WebhookTaskData"]["properties"]
        self.sender = {
            name: (sender[name]["const"], labels.label(sender[name], "const")) for name in ("vendor", "model_name")
        }

    def missing(self, event_type: str, task_id: str, waited: float, seen: Sequence[Received]) -> Finding:
        """The finding for an event that never came."""
        got = "; ".join(f"{_type(d)} about {_task_id(d)}" for d in seen[-10:]) or "no delivery at all"
        return violation(
            "webhooks.delivered",
            f"No {event_type} webhook came for task {task_id} within {waited:g} s",
            f"a signed POST of {event_type} about the task to the WEBHOOK_LISTEN receiver",
            actual=f"received: {got}",
            label=self.event_label,
        )

    def judge(self, delivery: Received, event_type: str, task_id: str) -> list[Finding]:
        """Every way the delivery of ``event_type`` about ``task_id`` breaks the contract."""
        shown = _describe(delivery)
        found: list[Finding] = []

        def broken(check: str, title: str, expected: str, label: Provenance | None) -> None:
            found.append(violation(check, title, expected, actual=shown, label=label))

        self._headers(delivery, broken)
        if delivery.method != "POST" or not delivery.headers.get("content-type", "").startswith("application/json"):
            broken("webhooks.envelope", "A webhook is not a JSON POST", "POST, Content-Type: application/json", None)
        event = delivery.json()
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(event, dict) or not isinstance(data, dict) or not {"id", "type", "created_at"} <= set(event):
            broken(
                "webhooks.envelope", "A webhook's body is not the documented envelope", _ENVELOPE, self.envelope_label
            )
            return found
        if event["type"] != event_type or not isinstance(event["id"], str) or not event["id"]:
            broken(
                "webhooks.envelope", "A webhook's type or id is wrong", f"type {event_type}, an id", self.event_label
            )
        for name, (value, label) in self.sender.items():
            if data.get(name) != value:
                broken("webhooks.envelope", f"A webhook's data.{name} is not {value!r}", f"{name} = {value}", label)
        payload = data.get("payload")
        if not isinstance(payload, dict):
            broken("webhooks.envelope", "A task webhook carries no payload", _ENVELOPE, self.envelope_label)
            return found
        found += self._payload(payload, event_type, task_id, shown)
        return found

    def _headers(self, delivery: Received, broken: Callable[[str, str, str, Provenance | None], None]) -> None:
        headers = delivery.headers
        stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        if not headers.get(ID_HEADER.lower()) or not (stamp.isascii() and stamp.isdigit()):
            broken("webhooks.headers", "A webhook lacks its id or timestamp header", _HEADERS, self.header_label)
            return
        tolerance = self.signing.tolerance
        if abs(delivery.received_at - int(stamp)) > tolerance:
            title = f"A webhook's timestamp is {abs(delivery.received_at - int(stamp)):.0f} s off the receiver's clock"
            expected = f"the Unix seconds of its signing, within {tolerance:g} s"
            broken("webhooks.headers", title, expected, self.signing.labels.get("tolerance-seconds"))
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        if not any(part.startswith(f"{VERSION}=") for part in signature.split()):
            broken(
                "webhooks.signature", f"A webhook has no {VERSION}= signature", _HEADERS, self.signing.labels["version"]
            )
            return
        readings = readings_that_verify(self.secret, headers, delivery.body, tolerance=None)
        contract = (self.signing.encoding, self.signing.key)
        if contract in readings:
            return
        expected = (
            f"{VERSION}= HMAC-SHA256 of id.timestamp.body, a {contract[0]} digest keyed with the {contract[1]} secret"
        )
        if not readings:
            broken(
                "webhooks.signature",
                "A webhook's signature does not verify with WEBHOOK_SECRET under any reading",
                expected,
                self.signing.labels["algorithm"],
            )
            return
        encoding, key = readings[0]
        rule = "encoding" if encoding != contract[0] else "key"
        broken(
            "webhooks.signature",
            f"A webhook's signature verifies only as a {encoding} digest keyed with the {key} secret",
            expected,
            self.signing.labels[rule],
        )

    def _payload(self, payload: dict[str, Any], event_type: str, task_id: str, shown: str) -> list[Finding]:
        found: list[Finding] = []
        info = payload.get("task_info")
        if not isinstance(info, dict) or info.get("id") != task_id:
            found.append(
                violation(
                    "webhooks.payload",
                    "A task webhook's payload is about another task",
                    f"data.payload.task_info.id = {task_id}",
                    actual=shown,
                    label=self.envelope_label,
                )
            )
        phase = self._phase_of(info.get("status") if isinstance(info, dict) else None)
        if phase != EVENT_PHASES[event_type]:
            found.append(
                violation(
                    "webhooks.payload",
                    f"A {event_type} webhook's payload has the status of another phase ({phase})",
                    f"a status of the {EVENT_PHASES[event_type]} phase, in either vocabulary",
                    actual=shown,
                    label=self.event_label,
                )
            )
        path = self.spec.operation(POLL_OPERATION).path.replace("{task_id}", task_id)
        headers = {"content-type": "application/json", "traceparent": _TRACE}
        body = json.dumps(payload).encode()
        for problem in self.checker.problems("GET", self.base_url + path, 200, headers, body):
            found.append(
                violation(
                    "webhooks.payload",
                    f"A {event_type} webhook's payload is not what a poll answers: {problem.problem}",
                    "the body of a poll's 200 (same shape as the GET task response)",
                    actual=shown,
                    label=problem.label,
                )
            )
        return found

    def _phase_of(self, status: Any) -> str | None:
        for words in self.lifecycle.vocabularies.values():
            for phase, word in words.items():
                if word == status:
                    return phase
        return None


_ENVELOPE = "{id, type, created_at, data: {vendor, model_name, payload}}"
_HEADERS = f"{ID_HEADER}, {TIMESTAMP_HEADER} (Unix seconds) and {SIGNATURE_HEADER}: {VERSION}=..."


def _type(delivery: Received) -> str:
    event = delivery.json()
    return str(event.get("type")) if isinstance(event, dict) else "a body that is not JSON"


def _task_id(delivery: Received) -> str:
    try:
        return str(delivery.json()["data"]["payload"]["task_info"]["id"])
    except (KeyError, TypeError):
        return "no task"


def _describe(delivery: Received) -> str:
    """A delivery as a report shows it: its request line, the webhook headers and the start of its body."""
    names = ("content-type", ID_HEADER.lower(), TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower())
    lines = [f"{delivery.method} {delivery.path}"]
    lines += [f"{name}: {delivery.headers[name]}" for name in names if name in delivery.headers]
    body = delivery.body.decode("utf-8", "replace")
    lines.append(body if len(body) <= SHOWN_BODY else body[: SHOWN_BODY - 1] + "…")
    return "\n".join(lines)
