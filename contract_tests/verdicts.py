"""The verdicts every suite shares: was a request accepted or rejected as the contract says, and
does each response conform to the spec? Each finding is a violation when the rule it holds is
documented, and a deviation when the rule is disputed or assumed (its ``x-provenance`` label)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from contract_tests.conformance import ResponseChecker
from contract_tests.findings import Finding, Inconclusive, Ledger, violation
from contract_tests.target import CREATE_OPERATION, Exchange
from sparkspec.openapi import ApiSpec
from sparkspec.provenance import Provenance

# What a refusal must be about for a body check to judge it (``x-refusal`` in the spec).
JUDGED = "body"
# Refusals that still say something of the request: its content, a server error, no such task, the
# wrong method. The others (the key, the balance, the rate, the account, the law...) say nothing of it.
SAYS_SOMETHING = frozenset({JUDGED, "server", "task", "method"})


class Verdicts:
    """Turns exchanges into findings, using the statuses, schemas and labels of the spec.

    Args:
        spec: The contract.
        base_url: The target, whose path prefix is not part of the spec's paths.
        ledger: Where findings are recorded as they are made (:meth:`settle`).
    """

    def __init__(self, spec: ApiSpec, base_url: str, ledger: Ledger | None = None) -> None:
        self.responses = ResponseChecker(spec, urlsplit(base_url).path)
        self.ledger = ledger if ledger is not None else Ledger()
        documented = spec.documented_statuses(CREATE_OPERATION)
        self.created_statuses = sorted(s for s in documented if 200 <= s < 300)
        self.refusals = spec.refusals(CREATE_OPERATION)
        self._refusals = {op: spec.refusals(op) for op in spec.operations}
        self.rejection_statuses = sorted(s for s, kind in self.refusals.items() if kind == JUDGED)

    def settle(self, found: Iterable[Finding], key: str | None = None) -> None:
        """Record ``found`` at once; raise for the violations (and, in strict runs, the deviations).

        ``key`` names what was judged, so that it is judged once (see :meth:`settled`).
        """
        self.ledger.settle(found, key)

    def settled(self, key: str) -> bool:
        """Whether ``key`` was judged already; its failure is raised again, without a request."""
        return self.ledger.settled(key)

    def conformance(self, exchange: Exchange) -> list[Finding]:
        """How the response breaks the spec: status, content type, headers, body; and any 5xx."""
        found = []
        if exchange.status >= 500:
            found.append(violation("server-error", f"The target answered {exchange.status}", "no 5xx answer", exchange))
        problems = self.responses.problems(
            exchange.method, exchange.url, exchange.status, exchange.response_headers, exchange.response_body
        )
        found += [
            violation(p.check, f"The response breaks the spec: {p.problem}", p.expected, exchange, label=p.label)
            for p in problems
        ]
        return found

    def accepted(self, exchange: Exchange, why: str, label: Provenance | None = None) -> list[Finding]:
        """A valid create must be accepted with a documented 2xx, and the response must conform.

        ``label`` is the provenance of the rule that makes the request valid: when the docs do not
        state it, a refusal is a deviation. A refusal that is not about the request (401, 402, 429...)
        raises :class:`Inconclusive`.
        """
        if exchange.status in self.created_statuses:
            return self.conformance(exchange)
        self.require_judged(exchange, why)
        if 200 <= exchange.status < 300:
            return self.conformance(exchange)  # an undocumented 2xx: the status check says so
        found = self.conformance(exchange)
        expected = f"{' or '.join(map(str, self.created_statuses))} with task_info: the request is valid ({why})"
        refused = violation("create.accepts-valid", f"A valid request was refused ({why})", expected, exchange)
        if exchange.status < 500:
            refused = refused.under(label)
        return [refused, *found]

    def rejected(self, exchange: Exchange, why: str, label: Provenance | None = None) -> list[Finding]:
        """An invalid create must get a documented refusal of its content (``x-refusal: body``), and no task.

        ``label`` is the provenance of the rule the request breaks: when the docs do not state it, an
        acceptance is a deviation. A refusal that is not about the request raises :class:`Inconclusive`.
        """
        if 200 <= exchange.status < 300:
            # Any documented 4xx passes; the message names the first, which the spec gives invalid parameters.
            expected = f"a {self.rejection_statuses[0]} error in the documented shape: {why}"
            taken = violation("create.rejects-invalid", f"An invalid request was accepted ({why})", expected, exchange)
            return [taken.under(label), *self.conformance(exchange)]
        self.require_judged(exchange, why)
        if 400 <= exchange.status < 500:
            # An undocumented 4xx also refuses the request; the status check says it is undocumented.
            return self.conformance(exchange)
        expected = f"a 4xx error in the documented shape: {why}"
        return [
            violation(
                "create.rejects-invalid", f"An invalid request was not refused with a 4xx ({why})", expected, exchange
            ),
            *self.conformance(exchange),
        ]

    def require_judged(self, exchange: Exchange, why: str, *, with_our_key: bool = True) -> None:
        """Raise :class:`Inconclusive` if the answer refuses something other than the request's content:
        the key, the balance, the rate, the account, the law...

        A request sent without the run's key (``with_our_key`` false) is rightly refused for it.
        """
        refusal = self.refusals.get(exchange.status)
        if refusal == "credentials" and not with_our_key:
            return
        if self.says_nothing(exchange, CREATE_OPERATION):
            raise Inconclusive(exchange.status, str(refusal), why)

    def says_nothing(self, exchange: Exchange, operation_id: str) -> bool:
        """Whether ``exchange`` is a refusal of the operation that says nothing of the request (a 429...)."""
        refusal = self._refusals[operation_id].get(exchange.status)
        return refusal is not None and refusal not in SAYS_SOMETHING
