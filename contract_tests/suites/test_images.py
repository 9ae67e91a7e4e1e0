"""Each image rule, with real images made at its edges. A valid image is accepted. An image that breaks a
rule must not produce a video: the target may refuse it at create, or accept it and fail the task,
since the docs leave the moment open; it may not succeed.

The invalid images are all sent first, and the tasks of those a target accepts are followed to their
end together, so that a target that accepts every image costs one task timeout, not one per image.
An image case whose side the docs do not state (a file cut short, say) is a deviation, not a
violation, when the target takes the other side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest

from contract_tests.budget import BudgetExhausted, drawing_from
from contract_tests.findings import violation
from contract_tests.image_cases import ImageCase, image_cases, invalid_image_cases
from contract_tests.lifecycle import Observation, TaskWatcher
from contract_tests.suite_fixtures import run_spec
from contract_tests.target import CREATE_OPERATION, Exchange, Target, TargetUnreachable
from contract_tests.verdicts import Verdicts
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenances


@functools.cache
def _cases(spec: ApiSpec) -> tuple[list[tuple[str, ImageCase]], list[tuple[str, ImageCase]]]:
    """The valid cases (of the first image field) and the invalid ones, from the spec's image rules.

    Every invalid case in the first image field, and the first case of each rule in the others: the docs
    leave open whether a bad image is refused at create or accepted and failed, so each may be a task.
    """
    rules = spec.fields_with_extension(CREATE_OPERATION, "x-image-rules")
    labels = Provenances(spec)
    cases = {name: image_cases(field_rules, labels.of(field_rules)) for name, field_rules in rules.items()}
    first = next(iter(rules))
    return [(first, case) for case in cases[first] if case.valid], invalid_image_cases(cases)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The image cases of the run's spec: the valid ones, or the invalid ones."""
    if "case" in metafunc.fixturenames:
        valid, invalid = _cases(run_spec(metafunc.config))
        chosen = valid if metafunc.definition.originalname == "test_a_valid_image_is_accepted" else invalid
        metafunc.parametrize(("field", "case"), chosen, ids=[f"{f}-{c.id}" for f, c in chosen])


@pytest.mark.tasks("images.valid")
def test_a_valid_image_is_accepted(
    field: str, case: ImageCase, target: Target, verdicts: Verdicts, base: dict[str, Any]
) -> None:
    exchange = target.create({**base, field: case.build()})
    label = None if case.documented else case.provenance
    verdicts.settle(verdicts.accepted(exchange, f"{field}: {case.label}", label))


@dataclass
class Sent:
    """What became of one invalid image: the create's answer and the task it made, or why it was not sent."""

    exchange: Exchange | None = None
    observation: Observation | None = None
    error: Exception | None = None


@pytest.fixture(scope="session")
def invalid_images(
    target: Target, watcher: TaskWatcher, spec: ApiSpec, base: dict[str, Any]
) -> dict[tuple[str, str], Sent]:
    """Every invalid image case sent once; the tasks of the accepted ones followed to their end at once."""
    sent: dict[tuple[str, str], Sent] = {}
    for field, case in _cases(spec)[1]:
        try:
            with drawing_from("images.invalid"):
                exchange = target.create({**base, field: case.build()}, meant_to_be_rejected=True)
        except (BudgetExhausted, TargetUnreachable) as exc:
            sent[(field, case.label)] = Sent(error=exc)
            continue
        accepted = 200 <= exchange.status < 300
        sent[(field, case.label)] = Sent(exchange, watcher.start(exchange) if accepted else None)
    watcher.follow([s.observation for s in sent.values() if s.observation is not None])
    return sent


def test_an_invalid_image_never_produces_a_video(
    field: str, case: ImageCase, invalid_images: dict[tuple[str, str], Sent], verdicts: Verdicts
) -> None:
    outcome = invalid_images[(field, case.label)]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.exchange is not None
    why = f"{field}: {case.label} breaks the {case.rule} rule"
    label = None if case.documented else case.provenance
    if outcome.observation is None:
        verdicts.settle(verdicts.rejected(outcome.exchange, why, label))
        return
    # Accepted: allowed only if the task then fails.
    observation = outcome.observation
    found = verdicts.conformance(outcome.exchange) + observation.violations
    if observation.phase == "succeeded":
        found.append(
            violation(
                "images.no-video-for-invalid-image",
                f"An invalid image produced a video ({why})",
                "a 4xx at create, or a task that ends failed",
                observation.last,
                label=label,
            )
        )
    verdicts.settle(found)
