"""Contract violations: what was sent (as curl), what the contract expects, what came back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from contract_tests.target import Exchange


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken promise of the contract.

    Attributes:
        check: A stable id, such as ``create.rejects-invalid`` or ``lifecycle.terminal-final``.
        title: One line that says what went wrong.
        expected: What the contract says should happen.
        actual: What happened instead.
        request: The request that showed it, as curl (key masked), when there is one.
    """

    check: str
    title: str
    expected: str
    actual: str
    request: str = ""

    def render(self) -> str:
        lines = [f"[{self.check}] {self.title}"]
        if self.request:
            lines += ["  Request:", *(f"    {line}" for line in self.request.splitlines())]
        lines += ["  Expected:", *(f"    {line}" for line in self.expected.splitlines())]
        lines += ["  Got:", *(f"    {line}" for line in self.actual.splitlines())]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def violation(check: str, title: str, expected: str, exchange: Exchange | None = None, actual: str = "") -> Violation:
    """A :class:`Violation` about ``exchange``: its curl, and its response unless ``actual`` says otherwise."""
    return Violation(
        check=check,
        title=title,
        expected=expected,
        actual=actual or (exchange.describe() if exchange else ""),
        request=exchange.curl() if exchange else "",
    )


class ContractViolation(AssertionError):
    """Raised by a check that found violations; the message is the readable report of them."""

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("\n\n".join(v.render() for v in self.violations))


def raise_if_any(violations: list[Violation]) -> None:
    if violations:
        raise ContractViolation(violations)


class Inconclusive(Exception):
    """The target's answer says nothing about what was checked (a 401, 402 or 429 to a body check).

    Not a verdict on the target: the run records the test as an error, with this message.
    """

    def __init__(self, status: int, refusal: str, why: str) -> None:
        self.status = status
        super().__init__(
            f"the target answered {status} ({refusal} refused), so it did not judge the request ({why}); no verdict"
        )
