"""The webhook service: events fall due on the mock's clock, and go to every endpoint, signed.

A task's status stays a pure function of the task and the clock; its events are worked out from
the same timeline when it is created (:mod:`mockserver.webhook_events`) and wait in a bounded heap.
One asyncio task, on the event loop that serves the mock (no thread), sleeps until the next one is
due, or until it is woken: when a task is created, when the clock is advanced through the admin
API, and at least once a second (a clock moved otherwise, such as a test's ``ManualClock``, or
another worker's, is seen that way). Each due event becomes one body, what a poll would answer at
that moment, and one delivery per endpoint, handed to the :class:`~mockserver.webhook_delivery.Courier`.

It starts on the first event (or with the app's lifespan) on whichever loop runs the app, and stops
with the lifespan. With no endpoint it never starts, and a create costs one attribute read.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from mockserver.clock import Clock, TimestampStyle, timestamp
from mockserver.presenter import Presenter
from mockserver.task_service import TaskService
from mockserver.tasks import Task, state_at
from mockserver.webhook_delivery import Courier, Delivery
from mockserver.webhook_endpoints import Endpoints
from mockserver.webhook_events import BALANCE_LOW, TASK_CREATED, Schedule, Scheduled, task_events
from sparkspec.openapi import ApiSpec, SpecError

# The longest the scheduler sleeps without reading the clock.
HEARTBEAT = 1.0
PENDING_EVENTS = 10_000
# balance.low is sent below this balance, in US dollars, by default (api-facts §8).
BALANCE_THRESHOLD = 10.0


class WebhookService:
    """The webhooks of one mock; see the module.

    Args:
        endpoints: Where events go.
        courier: What sends them.
        clock: The mock's clock, which events fall due on.
        tasks: The task service, whose timelines say when a task's events are due.
        presenter: Writes a task event's payload, as a poll would answer.
        timestamps: The style of the envelope's ``created_at``.
        sender: The envelope's ``vendor`` and ``model_name`` (from the spec).
    """

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        courier: Courier,
        clock: Clock,
        tasks: TaskService,
        presenter: Presenter,
        timestamps: TimestampStyle,
        sender: tuple[str, str],
    ) -> None:
        self.endpoints = endpoints
        self.courier = courier
        self.clock = clock
        self.tasks = tasks
        self.presenter = presenter
        self.timestamps: TimestampStyle = timestamps
        self.vendor, self.model_name = sender
        self.schedule = Schedule(PENDING_EVENTS)
        #: Whether any endpoint is registered: what the create route reads, and all it reads when none is.
        self.active = len(endpoints) > 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None

    def task_created(self, task: Task, base_url: str) -> None:
        """Schedule the events of a task just created; ``base_url``: where its client reached the mock."""
        subject = (task, base_url)
        push = self.schedule.push
        for due, event_type in task_events(task, self.tasks.timeline(task)):
            push(due, event_type, subject)
        self.wake()

    def balance_low(self, balance: float | None = None) -> bool:
        """Send ``balance.low`` now to every endpoint; ``False`` when there is none to send it to."""
        if not self.active:
            return False
        shown = round(BALANCE_THRESHOLD / 2 if balance is None else float(balance), 2)
        data = {"balance": shown, "threshold": BALANCE_THRESHOLD, "currency": "USD"}
        self.schedule.push(self.clock.now(), BALANCE_LOW, data)
        self.wake()
        return True

    def endpoints_changed(self) -> None:
        """Call after adding or removing endpoints."""
        self.active = len(self.endpoints) > 0

    def reset(self) -> None:
        """What a reset of the mock does: pending events, queued deliveries and the log forgotten, and the
        endpoints back to those it was configured with."""
        self.schedule.clear()
        self.courier.forget()
        self.endpoints.restore()
        self.endpoints_changed()

    def wake(self) -> None:
        """Look at the clock again now (it moved, or an event was added); safe from any thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self.active or len(self.schedule)):
            self._ensure_running(running)
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return
        if loop is running:
            wakeup.set()
        elif not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wakeup.set)

    def status(self) -> dict[str, Any]:
        """Counts for ``GET /__mock/webhooks``."""
        return {
            "endpoints": len(self.endpoints),
            "pending_events": len(self.schedule),
            "events_dropped": self.schedule.dropped,
            "queued_deliveries": self.courier.waiting,
            "deliveries_dropped": self.courier.dropped,
            "attempts_total": self.courier.attempts,
        }

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The app's lifespan: deliveries run while it does, and stop with it."""
        if self.active:
            self._ensure_running(asyncio.get_running_loop())
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop scheduling and delivering; what is pending stays for the next start."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done() and self._loop is asyncio.get_running_loop():
            runner.cancel()
            with suppress(asyncio.CancelledError):
                await runner

    def _ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        runner = self._runner
        if runner is not None and not runner.done() and self._loop is loop:
            return
        self._loop = loop
        self._wakeup = wakeup = asyncio.Event()
        self.courier.attach()
        self._runner = loop.create_task(self._run(wakeup), name="spark-mock webhooks")

    async def _run(self, wakeup: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.courier.serve())
            group.create_task(self._dispatch(wakeup))

    async def _dispatch(self, wakeup: asyncio.Event) -> None:
        while True:
            now = self.clock.now()
            for item in self.schedule.pop_due(now):
                self._fire(item)
            wakeup.clear()
            due = self.schedule.next_due
            delay = HEARTBEAT if due is None else min(HEARTBEAT, max(0.0, due - now))
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wakeup.wait()

    def _fire(self, item: Scheduled) -> None:
        endpoints = list(self.endpoints)
        if not endpoints:
            return
        event_id = "evt_" + uuid.uuid4().hex
        task_id = None
        if item.type == BALANCE_LOW:
            data = item.subject
        else:
            task, base_url = item.subject
            task_id = task.id
            # The poll's answer at the moment of the event: queued when created, else its end.
            state = state_at(task, task.created_at if item.type == TASK_CREATED else math.inf)
            data = {
                "vendor": self.vendor,
                "model_name": self.model_name,
                "payload": self.presenter.result(task, state, base_url),
            }
        envelope = {"id": event_id, "type": item.type, "created_at": timestamp(item.due, self.timestamps), "data": data}
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        generation = self.courier.generation
        for endpoint in endpoints:
            delivery = Delivery("dlv_" + uuid.uuid4().hex, event_id, item.type, task_id, endpoint, body, generation)
            self.courier.submit(delivery)


def webhook_sender(spec: ApiSpec) -> tuple[str, str]:
    """The ``vendor`` and ``model_name`` of a task event's data, as the spec's ``WebhookTaskData`` fixes them."""
    try:
        properties = spec.document["components"]["schemas"]["WebhookTaskData"]["properties"]
        return str(properties["vendor"]["const"]), str(properties["model_name"]["const"])
    except (KeyError, TypeError):
        raise SpecError("the spec's WebhookTaskData must fix vendor and model_name with const") from None
