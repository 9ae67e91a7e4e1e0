"""The task plan of a contract run: how many tasks each part of the run may have accepted, fixed before
the first request.

Every accepted create may be a billed task, so the budget is planned, not raced. Each part of the
run gets a share, in this order of priority, until ``MAX_TASKS`` is used up:

1. the lifecycle suite's tasks, followed to their end (and, when the run checks webhooks, one task
   whose webhooks it waits for);
2. each valid image case (one task each);
3. the auth suite's task to poll, and one for a wrongly accepted create;
4. one task for mistakes in the edges, and one in Schemathesis' negative cases: invalid requests
   whose refusal the docs state, accepted all the same (one is a violation found; the rest of that
   part then stops). Such requests cost nothing unless accepted, so they are sent under any cap;
5. one task for each valid edge of the request schema;
6. one task for each invalid image case (the docs leave open whether a bad image is refused at
   create, or accepted and its task failed), and for each invalid edge whose refusal the docs do not
   state (``null`` in a field typed ``string``, a value of a disputed enum): a target that follows
   the docs may accept it;
7. Schemathesis' positive cases and its create -> poll workflows (these are generated: when their
   share is used, the rest are not sent);
8. more tasks for mistakes, and more examples of each valid edge whose values are generated, up to
   the profile's numbers.

A part that used its share sends no more creates: a suite that runs early cannot eat the share of
one that runs later. ``spark-contract --plan`` prints the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from contract_tests.boundaries import edges
from contract_tests.config import Profile, active
from contract_tests.image_cases import image_cases, invalid_image_cases
from contract_tests.target import CREATE_OPERATION
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenances


@dataclass(frozen=True, slots=True)
class Share:
    """What one part of the run may use: ``tasks`` of the ``wanted`` it asked for, and why it needs them."""

    name: str
    tasks: int
    wanted: int
    why: str


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """The shares of a run, and the number of examples they allow.

    Attributes:
        shares: Each part's share, in order of priority.
        max_tasks: The run's cap (``None``: no cap; each part then gets what it wants).
        valid_examples: Examples of each valid edge whose values are generated.
        positive_examples: Schemathesis' positive cases of each operation.
        stateful_examples: Schemathesis' create -> poll workflows.
    """

    shares: tuple[Share, ...]
    max_tasks: int | None
    valid_examples: int
    positive_examples: int
    stateful_examples: int

    @property
    def limits(self) -> dict[str, int]:
        """The tasks each share may use, by name (what the budget holds each part to)."""
        return {share.name: share.tasks for share in self.shares}

    @property
    def total(self) -> int:
        """The tasks the plan gives out in all (never more than ``max_tasks``)."""
        return sum(share.tasks for share in self.shares)

    def describe(self) -> str:
        """The plan as a person reads it (``spark-contract --plan``)."""
        cap = "no cap" if self.max_tasks is None else f"MAX_TASKS={self.max_tasks}"
        width = max(len(s.name) for s in self.shares)
        lines = [f"Task plan ({cap}): {self.total} tasks planned in all.", ""]
        lines += [f"  {'share':<{width}}  tasks  what for"]
        for share in self.shares:
            short = f" (wanted {share.wanted})" if share.tasks < share.wanted else ""
            lines.append(f"  {share.name:<{width}}  {share.tasks:>5}  {share.why}{short}")
        spare = "" if self.max_tasks is None else f"; {self.max_tasks - self.total} of MAX_TASKS to spare"
        lines += [
            "",
            f"Examples: {self.valid_examples} per generated valid edge, {self.positive_examples} positive "
            f"Schemathesis cases per operation, {self.stateful_examples} create -> poll workflows{spare}.",
        ]
        if any(s.tasks < s.wanted for s in self.shares):
            lines.append("Some parts get less than they want: their last creates will not be sent (INCOMPLETE).")
        return "\n".join(lines) + "\n"


def plan_run(spec: ApiSpec, profile: Profile, max_tasks: int | None, *, webhooks: bool = False) -> TaskPlan:
    """The plan for ``profile`` under ``max_tasks``, from the spec's edges and image cases; ``webhooks``:
    the run checks the target's webhooks (``WEBHOOK_LISTEN``)."""
    found = edges(spec)
    valid = [e for e in found if e.valid]
    exact = sum(1 for e in valid if e.exact)
    generated = len(valid) - exact
    labels = Provenances(spec)
    rules = spec.fields_with_extension(CREATE_OPERATION, "x-image-rules")
    first = next(iter(rules))
    images = {name: image_cases(r, labels.of(r)) for name, r in rules.items()}
    valid_images = sum(1 for case in images[first] if case.valid)
    invalid_images = len(invalid_image_cases(images))
    open_edges = sum(1 for e in found if not e.valid and not e.documented)
    request_examples = len(
        spec.operation(CREATE_OPERATION).node["requestBody"]["content"]["application/json"].get("examples", {})
    )
    mistakes = profile.mistakes
    wanted: list[tuple[str, int, int, str]] = [  # name, at least, at most, why
        ("lifecycle", profile.lifecycle_tasks, profile.lifecycle_tasks, "tasks followed from create to their end"),
        *([("webhooks", 1, 1, "a task whose webhooks the run waits for")] if webhooks else []),
        ("images.valid", valid_images, valid_images, "one per valid image case"),
        ("auth", 2, 2, "a task to poll without a key, and one create wrongly accepted without one"),
        # Documented-invalid requests cost nothing unless accepted; one accepted is a violation found.
        ("constraints.mistakes", 1, mistakes, "documented-invalid bodies accepted anyway"),
        ("schemathesis.mistakes", 1, mistakes, "Schemathesis' negative cases accepted anyway"),
        ("constraints.valid", len(valid), exact + generated * profile.valid_examples, "the valid edges"),
        (
            "images.invalid",
            invalid_images,
            invalid_images,
            "one per invalid image case: the docs let a target accept a bad image and fail its task",
        ),
        ("constraints.undocumented", open_edges, open_edges, "invalid edges whose refusal the docs do not state"),
        (
            "schemathesis.positive",
            profile.positive_examples + request_examples + 1,
            profile.positive_examples + request_examples + 1,
            "Schemathesis' positive cases and the spec's request examples",
        ),
        ("stateful", profile.stateful_examples * 2, profile.stateful_examples * 2, "Schemathesis create -> poll runs"),
    ]
    left = max_tasks
    given: dict[str, int] = {}
    for name, least, _, _ in wanted:  # first each part's least, in order of priority
        given[name] = least if left is None else min(least, left)
        left = None if left is None else left - given[name]
    for name, _, most, _ in wanted:  # then more examples, where a part wants them
        more = most - given[name] if left is None else min(most - given[name], left)
        given[name] += more
        left = None if left is None else left - more
    shares = tuple(Share(name, given[name], most, why) for name, _, most, why in wanted)
    room = given["constraints.valid"] - exact
    examples = max(1, min(profile.valid_examples, room // generated)) if generated else 0
    return TaskPlan(shares, max_tasks, examples, profile.positive_examples, profile.stateful_examples)


def active_plan() -> TaskPlan:
    """The plan of the run in progress (the suites read it when pytest imports them)."""
    config = active()
    return plan_for(config.profile, config.max_tasks, webhooks=config.webhook_listen is not None)


@lru_cache(maxsize=4)
def plan_for(profile: Profile, max_tasks: int | None, *, webhooks: bool = False) -> TaskPlan:
    """:func:`plan_run` for the shipped spec, worked out once per profile, cap and webhook check."""
    return plan_run(ApiSpec.load(), profile, max_tasks, webhooks=webhooks)
