"""Findings of a check: what was sent (as curl), what the contract expects, what came back, and
whether the broken rule is documented (a violation) or only disputed or assumed (a deviation)."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from contract_tests.target import Exchange
from sparkspec.provenance import Provenance


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken promise of the contract: a violation, or a deviation when the rule is not documented.

    Attributes:
        check: A stable id, such as ``create.rejects-invalid`` or ``lifecycle.terminal-final``.
        title: One line that says what went wrong.
        expected: What the contract says should happen.
        actual: What happened instead.
        request: The request that showed it, as curl (key masked), when there is one.
        basis: Where the broken rule comes from: ``documented`` (also what no reading allows, such
            as a 5xx), ``disputed`` or ``assumed`` (see ``x-provenance`` in the spec).
        docs: What the docs say about the rule, in words.
    """

    check: str
    title: str
    expected: str
    actual: str
    request: str = ""
    basis: str = "documented"
    docs: str = ""

    @property
    def deviation(self) -> bool:
        """The target took another reading of the docs than this contract: not a failure by default."""
        return self.basis != "documented"

    def render(self) -> str:
        kind = f"deviation, {self.basis} rule" if self.deviation else "violation"
        lines = [f"[{self.check}] ({kind}) {self.title}"]
        if self.request:
            lines += ["  Request:", *(f"    {line}" for line in self.request.splitlines())]
        lines += ["  Expected:", *(f"    {line}" for line in self.expected.splitlines())]
        lines += ["  Got:", *(f"    {line}" for line in self.actual.splitlines())]
        if self.docs:
            lines += ["  Where the rule comes from:", *(f"    {line}" for line in textwrap.wrap(self.docs, 100))]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": "deviation" if self.deviation else "violation"}

    def under(self, label: Provenance | None) -> Finding:
        """This finding, judged by ``label``: a deviation unless the rule is documented."""
        if label is None:
            return self
        return replace(self, basis=label.basis, docs=label.words())


def violation(
    check: str,
    title: str,
    expected: str,
    exchange: Exchange | None = None,
    actual: str = "",
    *,
    label: Provenance | None = None,
) -> Finding:
    """A :class:`Finding` about ``exchange``: its curl, and its response unless ``actual`` says otherwise.

    With ``label``, the rule's provenance decides whether it is a violation or a deviation.
    """
    found = Finding(
        check=check,
        title=title,
        expected=expected,
        actual=actual or (exchange.describe() if exchange else ""),
        request=exchange.curl() if exchange else "",
    )
    return found.under(label)


class ContractViolation(AssertionError):
    """Raised by a check that found violations; the message is the readable report of them."""

    def __init__(self, violations: Iterable[Finding]) -> None:
        self.violations = tuple(violations)
        super().__init__("\n\n".join(v.render() for v in self.violations))


# Checks that judge a request itself (accepted or refused, produced a video or not), not its answer's shape.
VERDICT_CHECKS = ("create.", "images.", "auth.", "server-error")


@dataclass
class Ledger:
    """Every finding of a run, recorded the moment a check makes it, by the test that made it.

    A finding recorded here is in the report however the test ends (even if the task budget stops
    it afterwards). ``strict`` makes deviations fail their test, as violations do.

    With ``remember``, a check that names what it judges (``key``, an edge of a constraint, say) is
    judged once: once a finding is made for a key, :meth:`settled` says so, and raises the same
    failure again without a request. Hypothesis replays a failing example before it reports it,
    and each replay of a create may be a billed task.
    """

    strict: bool = False
    remember: bool = True
    current: str = ""
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    _verdicts: dict[str, ContractViolation | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settle(self, found: Iterable[Finding], key: str | None = None) -> None:
        """Record ``found`` for the current test; raise :class:`ContractViolation` for what fails it."""
        found = list(found)
        if not found:
            return
        with self._lock:
            kept = self.findings.setdefault(self.current, [])
            seen = {(f.check, f.title) for f in kept}
            kept.extend(f for f in found if (f.check, f.title) not in seen)
        failing = [f for f in found if self.strict or not f.deviation]
        failure = ContractViolation(failing) if failing else None
        # A verdict on the request itself settles the key; a deviation in the answer's shape does not.
        decisive = failure is not None or any(f.check.startswith(VERDICT_CHECKS) for f in found)
        if key is not None and self.remember and decisive:
            self._verdicts[key] = failure
        if failure is not None:
            raise failure

    def settled(self, key: str) -> bool:
        """Whether ``key`` has been judged already: raise its failure again, if it failed; else ``True``
        (nothing more to send for it) or ``False`` (go on)."""
        if not self.remember or key not in self._verdicts:
            return False
        failure = self._verdicts[key]
        if failure is not None:
            raise ContractViolation(failure.violations)
        return True

    def of(self, test: str) -> list[Finding]:
        """Every finding ``test`` made, violations and deviations."""
        return list(self.findings.get(test, ()))

    def failing(self, test: str) -> list[Finding]:
        """The findings that fail ``test``: its violations, and in strict runs its deviations too."""
        return [f for f in self.of(test) if self.strict or not f.deviation]


class Inconclusive(Exception):
    """The target's answer says nothing about what was checked (a 401, 402 or 429 to a body check).

    Not a verdict on the target: the run records the test as an error, with this message.
    """

    def __init__(self, status: int, refusal: str, why: str) -> None:
        self.status = status
        super().__init__(
            f"the target answered {status} ({refusal} refused), so it did not judge the request ({why}); no verdict"
        )
