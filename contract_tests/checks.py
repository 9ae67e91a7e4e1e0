"""The verdicts every suite shares: was a request accepted or rejected as the contract says, and
does each response conform to the spec?"""

from __future__ import annotations

from urllib.parse import urlsplit

from contract_tests.conformance import ResponseChecker
from contract_tests.target import CREATE_OPERATION, Exchange
from contract_tests.violations import Inconclusive, Violation, violation
from mockserver.spec import ApiSpec

# What a refusal must be about for a body check to judge it (``x-refusal`` in the spec).
JUDGED = "body"
# Refusals that say nothing about a request's content: a wrong key, no money left, a rate limit.
NOT_JUDGED = frozenset({"credentials", "balance", "rate"})


class Verdicts:
    """Turns exchanges into violations, using the statuses and schemas of the spec."""

    def __init__(self, spec: ApiSpec, base_url: str) -> None:
        self.responses = ResponseChecker(spec, urlsplit(base_url).path)
        documented = spec.documented_statuses(CREATE_OPERATION)
        self.created_statuses = sorted(s for s in documented if 200 <= s < 300)
        self.refusals = spec.refusals(CREATE_OPERATION)
        self.rejection_statuses = sorted(s for s, kind in self.refusals.items() if kind == JUDGED)

    def conformance(self, exchange: Exchange) -> list[Violation]:
        """How the response breaks the spec: status, content type, headers, body; and any 5xx."""
        found = []
        if exchange.status >= 500:
            found.append(violation("server-error", f"The target answered {exchange.status}", "no 5xx answer", exchange))
        problems = self.responses.problems(
            exchange.method, exchange.url, exchange.status, exchange.response_headers, exchange.response_body
        )
        found += [
            violation(p.check, f"The response breaks the spec: {p.problem}", p.expected, exchange) for p in problems
        ]
        return found

    def accepted(self, exchange: Exchange, why: str) -> list[Violation]:
        """A valid create must be accepted with a documented 2xx, and the response must conform.

        A 401, 402 or 429 says nothing about the request: it raises :class:`Inconclusive`.
        """
        if exchange.status in self.created_statuses:
            return self.conformance(exchange)
        self.require_judged(exchange, why)
        if 200 <= exchange.status < 300:
            return self.conformance(exchange)  # an undocumented 2xx: the status check says so
        found = self.conformance(exchange) if exchange.status >= 500 else []
        expected = f"{' or '.join(map(str, self.created_statuses))} with task_info: the request is valid ({why})"
        return [violation("create.accepts-valid", f"A valid request was refused ({why})", expected, exchange), *found]

    def rejected(self, exchange: Exchange, why: str) -> list[Violation]:
        """An invalid create must get a documented refusal of its content (``x-refusal: body``), and no task.

        A 401, 402 or 429 is not such a refusal: it raises :class:`Inconclusive`.
        """
        if 200 <= exchange.status < 300:
            # Any documented 4xx passes; the message names the first, which the spec gives invalid parameters.
            expected = f"a {self.rejection_statuses[0]} error in the documented shape: {why}"
            return [violation("create.rejects-invalid", f"An invalid request was accepted ({why})", expected, exchange)]
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
        """Raise :class:`Inconclusive` if the answer refuses the key, the balance or the rate, not the request.

        A request sent without the run's key (``with_our_key`` false) is rightly refused for it.
        """
        refusal = self.refusals.get(exchange.status)
        if refusal == "credentials" and not with_our_key:
            return
        if refusal in NOT_JUDGED:
            raise Inconclusive(exchange.status, str(refusal), why)
