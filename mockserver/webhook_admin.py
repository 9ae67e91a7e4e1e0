"""The admin API's webhook routes, under ``/__mock/webhooks``. No secret is ever shown by any of them,
but a secret the mock made itself, once, in the answer that registered its endpoint (as MuleRouter's
console shows a new secret once).

GET    /__mock/webhooks?limit=N               every delivery attempt, oldest first, and the counts
DELETE /__mock/webhooks                       empty that log
GET    /__mock/webhooks/endpoints             the endpoints events go to
POST   /__mock/webhooks/endpoints             {"url": ..., "secret": "whsec_..." (optional), "description": ...}
DELETE /__mock/webhooks/endpoints             remove every endpoint (a reset brings back the configured ones)
DELETE /__mock/webhooks/endpoints/{id}        remove one
POST   /__mock/webhooks/balance-low           {"balance": 4.2} (optional): send balance.low now
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mockserver.admin import ADMIN_PREFIX, json_reply, query_limit, read_payload
from mockserver.errors import ApiError
from mockserver.frontdoor import Call, Reply, Route
from mockserver.webhook_endpoints import EndpointError, TooManyEndpoints, new_secret
from mockserver.webhooks import WebhookService

PREFIX = ADMIN_PREFIX + "/webhooks"


class WebhookAdmin:
    """Routes that show and steer the webhooks of a mock.

    Args:
        webhooks: The mock's webhook service.
        default_secret: The secret of an endpoint registered without one (``MOCK_WEBHOOK_SECRET``);
            without it, a new secret is made for each such endpoint.
    """

    def __init__(self, webhooks: WebhookService, default_secret: str | None = None) -> None:
        self.webhooks = webhooks
        self._default_secret = default_secret

    def routes(self) -> list[Route]:
        """Every webhook route, under :data:`PREFIX`; each ``GET`` answers ``HEAD`` too."""
        table: list[tuple[str, str, Callable[[Call], Any]]] = [
            ("GET", "", self.attempts),
            ("DELETE", "", self.clear_attempts),
            ("GET", "/endpoints", self.list_endpoints),
            ("POST", "/endpoints", self.add_endpoint),
            ("DELETE", "/endpoints", self.remove_endpoints),
            ("DELETE", "/endpoints/{endpoint_id}", self.remove_endpoint),
            ("POST", "/balance-low", self.balance_low),
        ]
        return [Route(method, PREFIX + path, handler, head=method == "GET") for method, path, handler in table]

    async def attempts(self, call: Call) -> Reply:
        shown = self.webhooks.attempts(query_limit(call, default=None))
        return json_reply({"attempts": [attempt.as_dict() for attempt in shown], **self.webhooks.status()})

    async def clear_attempts(self, call: Call) -> Reply:
        self.webhooks.clear_log()
        return json_reply({"attempts": [], **self.webhooks.status()})

    async def list_endpoints(self, call: Call) -> Reply:
        self.webhooks.sync()
        return json_reply(self._endpoints())

    async def add_endpoint(self, call: Call) -> Reply:
        usage = (
            'Send {"url": "https://...", "secret": "whsec_..." (optional), "description": "..." (optional)};'
            f" at most {self.webhooks.endpoints.limits.max_endpoints} endpoints"
        )
        payload = await read_payload(call, usage)
        if not isinstance(payload, dict) or set(payload) - {"url", "secret", "description"}:
            raise ApiError(400, usage)
        made = None
        self.webhooks.sync()  # added to the endpoints as every worker has them
        secret = payload.get("secret", self._default_secret)
        if secret is None:
            secret = made = new_secret()
        try:
            endpoint = self.webhooks.endpoints.add(
                payload.get("url"), secret, payload.get("description", ""), self.webhooks.clock.now()
            )
        except TooManyEndpoints as exc:
            raise ApiError(409, str(exc)) from None
        except EndpointError as exc:  # never shows the secret
            raise ApiError(400, f"{exc}. {usage}") from None
        self.webhooks.endpoints_changed()
        shown: dict[str, Any] = {"endpoint": endpoint.public()}
        if made is not None:
            shown["secret"] = made  # shown this once, as the console shows a new secret
        return Reply(201, json_reply(shown).body)

    async def remove_endpoints(self, call: Call) -> Reply:
        self.webhooks.endpoints.clear()
        self.webhooks.endpoints_changed()
        return json_reply(self._endpoints())

    async def remove_endpoint(self, call: Call) -> Reply:
        self.webhooks.sync()
        if not self.webhooks.endpoints.remove(call.params["endpoint_id"]):
            raise ApiError(404, "No such webhook endpoint")
        self.webhooks.endpoints_changed()
        return json_reply(self._endpoints())

    async def balance_low(self, call: Call) -> Reply:
        usage = 'Send {} or {"balance": <number from 0 up>}'
        payload = await read_payload(call, usage, when_empty={})  # no body at all: the default balance
        balance = payload.get("balance") if isinstance(payload, dict) else "not an object"
        if isinstance(balance, bool) or not (balance is None or isinstance(balance, int | float)):
            raise ApiError(400, usage)
        if balance is not None and not (math.isfinite(balance) and 0 <= balance <= 1e12):
            raise ApiError(400, usage)
        self.webhooks.sync()
        if not self.webhooks.balance_low(balance):
            raise ApiError(409, "No webhook endpoint is registered: balance.low would go nowhere")
        return json_reply({"sent": "balance.low", "endpoints": len(self.webhooks.endpoints)})

    def _endpoints(self) -> dict[str, Any]:
        # max: the spec's max-endpoints, as the endpoints hold it (the number that refuses one more).
        return {
            "endpoints": [e.public() for e in self.webhooks.endpoints],
            "max": self.webhooks.endpoints.limits.max_endpoints,
        }
