"""Each image rule, with real images made at its edges. A valid image is accepted. An image that breaks a
rule must not produce a video: the target may refuse it at create, or accept it and fail the task,
since the docs leave the moment open; it may not succeed."""

from __future__ import annotations

import pytest

from contract_tests.boundaries import base_body
from contract_tests.checks import Verdicts
from contract_tests.image_cases import ImageCase, image_cases
from contract_tests.lifecycle import TaskWatcher
from contract_tests.target import CREATE_OPERATION, Target
from contract_tests.violations import raise_if_any, violation
from mockserver.spec import ApiSpec

SPEC = ApiSpec.load()
BASE = base_body(SPEC)
RULES = SPEC.fields_with_extension(CREATE_OPERATION, "x-image-rules")
FIRST = next(iter(RULES))
VALID = [(FIRST, case) for case in image_cases(RULES[FIRST]) if case.valid]
# Rejections cost nothing, so every invalid case is tried in every image field.
INVALID = [(name, case) for name, rules in RULES.items() for case in image_cases(rules) if not case.valid]


@pytest.mark.parametrize(("field", "case"), VALID, ids=[f"{f}-{c.id}" for f, c in VALID])
def test_a_valid_image_is_accepted(field: str, case: ImageCase, target: Target, verdicts: Verdicts) -> None:
    exchange = target.create({**BASE, field: case.build()})
    raise_if_any(verdicts.accepted(exchange, f"{field}: {case.label}"))


@pytest.mark.parametrize(("field", "case"), INVALID, ids=[f"{f}-{c.id}" for f, c in INVALID])
def test_an_invalid_image_never_produces_a_video(
    field: str, case: ImageCase, target: Target, verdicts: Verdicts, watcher: TaskWatcher
) -> None:
    why = f"{field}: {case.label} breaks the {case.rule} rule"
    exchange = target.create({**BASE, field: case.build()}, meant_to_be_rejected=True)
    if not 200 <= exchange.status < 300:
        raise_if_any(verdicts.rejected(exchange, why))
        return
    # Accepted: allowed only if the task then fails. Follow it to its end.
    observation = watcher.follow([watcher.start(exchange)])[0]
    found = verdicts.conformance(exchange) + observation.violations
    if observation.phase == "succeeded":
        found.append(
            violation(
                "images.no-video-for-invalid-image",
                f"An invalid image produced a video ({why})",
                "a 4xx at create, or a task that ends failed",
                observation.last,
            )
        )
    raise_if_any(found)
