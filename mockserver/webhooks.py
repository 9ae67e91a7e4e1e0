"""The webhook service: events fall due on the mock's clock, and go to every endpoint, signed.

A task's status stays a pure function of the task and the clock, and so do its events: the webhook
process (:mod:`mockserver.webhook_process`) works them out from the task's timeline, and sends them
when the mock's clock passes them. This side, in the server, costs a create no more than putting its
task in the next batch. Batches go to the process every ``BATCH_SECONDS``, with no more tasks than the
process last said it has room for: the rest are dropped here, before they cost an encoding, and
counted. The clock's reading goes whenever it may have moved (when it is advanced through the admin
API or the pytest plugin, and a look each second for a clock moved otherwise, such as a test's
``ManualClock``, or another worker's), and the endpoints whenever they change. Attempts come back,
into a log of the last ``log_size``.

With no endpoint, nothing starts, and a create costs one attribute read.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from mockserver.clock import Clock
from mockserver.tasks import Task
from mockserver.webhook_delivery import Attempt
from mockserver.webhook_endpoints import Endpoints
from mockserver.webhook_events import EVENTS_PER_TASK, event_count, events_of
from mockserver.webhook_ledger import WebhookLedger
from mockserver.webhook_link import Link
from mockserver.webhook_process import HEARTBEAT, ProcessConfig
from mockserver.webhook_wire import BALANCE, CLOCK, ENDPOINTS, REPORT, RESET, TASKS, task_record
from sparkspec.openapi import ApiSpec, SpecError

# Tasks created within this many seconds go to the webhook process together: one write for many creates.
BATCH_SECONDS = 0.02
# balance.low is sent below this balance, in US dollars, by default (api-facts §8).
BALANCE_THRESHOLD = 10.0


class WebhookService:
    """The webhooks of one mock; see the module.

    Args:
        endpoints: Where events go.
        process: What the webhook process needs (how to deliver, how a poll answers).
        clock: The mock's clock, which events fall due on.
        ledger: The log of attempts, the counts, and resets: this worker's, or (with a state file) every
            worker's, who also share the endpoints set at run time through it.
        origin: Where the client of a request reached the mock (the base of the video links in a task's
            events), read only for the tasks that join a batch (not for those dropped at the create).
    """

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        process: ProcessConfig,
        clock: Clock,
        ledger: WebhookLedger,
        origin: Callable[[Any], str],
    ) -> None:
        self.endpoints = endpoints
        self._origin = origin
        #: How deliveries are made and signed.
        self.rules = process.rules
        self.clock = clock
        self.ledger = ledger
        self._generation = ledger.generation()
        self._seen = ledger.version()
        shared = ledger.endpoints()
        if shared is not None:
            endpoints.replace(shared)
        #: Whether any endpoint is registered: what the create route reads, and all it reads when none is.
        self.active = len(endpoints) > 0
        self._link = Link(process, self._reported, self._started)
        self._unsent = 0  # events the server dropped because the process could not take them in time
        self._room_at_start = process.pending_events // EVENTS_PER_TASK  # in tasks
        self._room = self._room_at_start  # tasks the process has room for, as far as this side knows
        self._sent = 0  # tasks sent to the process since it started
        self._born: list[tuple[Task, str]] = []
        self._batch: asyncio.TimerHandle | None = None
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._reading: tuple[float, float] | None = None  # what the process was last told: clock, and when
        self._heartbeat: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stale = False  # a message that says how things stand may not have reached the process
        self._heard = -1  # the generation of the process's last report

    def task_created(self, task: Task, request: Any) -> None:
        """Schedule the events of a task just created by ``request`` (what ``origin`` reads where its client
        reached the mock). Call on the event loop that serves the mock."""
        batch_loop = self._batch_loop
        if batch_loop is None or batch_loop.is_closed():
            # The first create, or the loop batched on has closed (a TestClient without `with` runs each
            # request on a loop of its own; so does a test that drives the app with asyncio.run): its timer
            # will never fire. This task goes now, with any that loop left behind. (Asking for the running
            # loop on every create would cost each a quarter of a microsecond.)
            self._on_new_loop(task, request)
            return
        born = self._born
        if len(born) >= self._room and self._link.running:
            # The process has no room for its events: under a load that takes the whole CPU, the process (at
            # the lowest priority) gets little of it and its schedule fills. They are dropped here, before
            # they cost anything more (an encoding, the task kept for the batch), and counted.
            self._unsent += EVENTS_PER_TASK if task.run_seconds != math.inf else event_count(task)
            return
        born.append((task, self._origin(request)))
        if len(born) == 1:
            self._batch = batch_loop.call_later(BATCH_SECONDS, self._send_born)

    def _on_new_loop(self, task: Task, request: Any) -> None:
        loop = self._batch_loop = asyncio.get_running_loop()
        # The process's reports were read on the loop that closed: those it sent since are read now, so that
        # what it has room for is known before this batch is cut to it.
        self._link.attach(loop)
        self._born.append((task, self._origin(request)))
        self._send_born()

    def balance_low(self, balance: float | None = None) -> bool:
        """Send ``balance.low`` now to every endpoint; ``False`` when there is none to send it to."""
        if not self.active:
            return False
        shown = round(BALANCE_THRESHOLD / 2 if balance is None else float(balance), 2)
        data = {"balance": shown, "threshold": BALANCE_THRESHOLD, "currency": "USD"}
        self._in_loop(lambda: self._send_event((BALANCE, data), 1))
        return True

    def endpoints_changed(self) -> None:
        """Call after adding or removing endpoints (after :meth:`sync`, so that the change is made to the
        endpoints as every worker has them)."""
        self._seen = self.ledger.set_endpoints(list(self.endpoints))
        self.active = len(self.endpoints) > 0
        self._in_loop(self._send_endpoints)

    def reset(self) -> None:
        """What a reset of the mock does: pending events, queued deliveries and the log forgotten, and the
        endpoints back to those it was configured with (for every worker, with a state file)."""
        generation, self._seen = self.ledger.reset()
        self._new_generation(generation)
        self._born.clear()
        self.endpoints.restore()
        self.active = len(self.endpoints) > 0
        self._in_loop(lambda: self._send((RESET, generation)) and self._send_endpoints())

    async def settled(self, timeout: float = 2.0) -> None:
        """Wait (``timeout`` seconds at most) until the webhook process has heard of the last reset: then
        nothing queued before it is still sent (a delivery already on its way still arrives)."""
        deadline = time.monotonic() + timeout
        while self._link.running and self._heard != self._generation and time.monotonic() < deadline:
            await asyncio.sleep(0.005)  # a report comes as soon as the process reads the reset

    def sync(self) -> None:
        """Take what another worker changed: its endpoints, or a reset. Done each second, and before the
        admin API reads or changes the endpoints."""
        ledger = self.ledger
        version = ledger.version()
        if version == self._seen:
            return
        self._seen = version
        generation = ledger.generation()
        if generation != self._generation:  # a reset through another worker
            self._new_generation(generation)
            self._in_loop(lambda: self._send((RESET, generation)))
        shared = ledger.endpoints()
        if shared is None:
            self.endpoints.restore()
        else:
            self.endpoints.replace(shared)
        self.active = len(self.endpoints) > 0
        self._in_loop(self._send_endpoints)

    def attempts(self, limit: int | None = None) -> list[Attempt]:
        """The last ``limit`` delivery attempts logged (every one kept, without it), oldest first."""
        return [Attempt(*attempt) for attempt in self.ledger.attempts(limit)]

    def clear_log(self) -> None:
        """Forget the attempts logged so far."""
        self.ledger.clear_log()

    def wake(self) -> None:
        """The clock may have moved: tell the webhook process now. Safe from any thread."""
        self._in_loop(self._send_clock)

    def status(self) -> dict[str, Any]:
        """Counts for ``GET /__mock/webhooks``."""
        pending, dropped, queued, deliveries_dropped = self.ledger.counts()
        return {
            "endpoints": len(self.endpoints),
            "pending_events": pending,
            "events_dropped": dropped + self._unsent,
            "queued_deliveries": queued,
            "deliveries_dropped": deliveries_dropped,
            "attempts_total": self.ledger.total(),
        }

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The app's lifespan: the webhook process runs while it does, and stops with it."""
        if self.active:  # started now, not on the first create, which should not wait for it
            self._send((ENDPOINTS, self._endpoint_list()), start=True)
        elif self.ledger.shared:  # look for what other workers change from the start
            self._loop = loop = asyncio.get_running_loop()
            # Soon, not from here: a beat that sends starts no second one (see _send).
            self._heartbeat = loop.call_soon(self._beat, loop)
        try:
            yield
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the webhook process; what it had pending is forgotten."""
        for handle in (self._heartbeat, self._batch):
            if handle is not None:
                handle.cancel()
        self._heartbeat = self._batch = None
        self._born.clear()
        self._link.close()
        self._reading = None
        self.ledger.leave(os.getpid())

    def _in_loop(self, work: Any) -> None:
        """Run ``work`` on the serving loop: now, when called there; soon, from another thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if running is not None and (loop is None or loop is running or loop.is_closed()):
            if self.active or self._link.running:
                work()
            return
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(lambda: self._in_loop(work))
                return
        self._stale = True  # no loop to do it on: the next message to the process brings it up to date

    def _send(self, message: tuple[Any, ...], start: bool = False, bounded: bool = False) -> bool:
        """Send to the webhook process; started first only for a message with ``start`` (events to send).
        Only a ``bounded`` message (events) may be dropped: see :meth:`Link.send`."""
        loop = asyncio.get_running_loop()
        moved, self._loop = self._loop is not loop, loop
        link = self._link
        if self._stale and link.running:
            self._stale = False
            self._tell_all()
        sent = link.send(message, start=start, bounded=bounded)
        if not sent and not bounded:
            self._stale = True  # the process could not be started: it hears everything when it is
        if moved or self._heartbeat is None:
            # Soon, never from here: a beat sends the clock, and would come back here first.
            self._heartbeat = loop.call_soon(self._beat, loop)
        return sent

    def _send_event(self, message: tuple[Any, ...], events: int) -> None:
        if not self._send(message, start=True, bounded=True):
            self._unsent += events

    def _send_born(self) -> None:
        born, self._born = self._born, []
        self._batch = None
        if not born or not self.active:
            return
        # Under a load that takes the whole CPU, the process (at the lowest priority) gets little of it,
        # and its schedule is full: what it has no room for is dropped here, before it costs an encoding,
        # and only counted. Most of a create's cost with webhooks on was this handover.
        room = 0 if self._link.full else self._room if self._link.running else self._room_at_start
        if room < len(born):
            self._unsent += events_of(born[max(room, 0) :])
            born = born[: max(room, 0)]
            if not born:
                return
        if self._send((TASKS, [(task_record(t), url) for t, url in born]), True, True):
            self._sent += len(born)
            self._room -= len(born)
        else:
            self._unsent += events_of(born)

    def _send_endpoints(self) -> bool:
        return self._send((ENDPOINTS, self._endpoint_list()))

    def _endpoint_list(self) -> list[tuple[str, str, str]]:
        return [(e.id, e.url, e.secret) for e in self.endpoints]

    def _send_clock(self) -> bool:
        reading = (self.clock.now(), time.monotonic())  # read together: sending may take a while under load
        sent = self._send((CLOCK, reading[0], self.clock.runs))
        self._reading = reading if sent else None
        return sent

    def _started(self) -> None:
        """A process has just started: it has room for as many tasks as its schedule holds, and hears how
        things stand before anything else."""
        self._room, self._sent = self._room_at_start, 0
        self._tell_all()

    def _tell_all(self) -> None:
        """The process has just started, or may have missed something: it hears the generation (which it
        ignores when it has it already), the endpoints and the clock."""
        link = self._link
        link.send((RESET, self._generation), bounded=False)
        link.send((ENDPOINTS, self._endpoint_list()), bounded=False)
        self._reading = reading = (self.clock.now(), time.monotonic())
        link.send((CLOCK, reading[0], self.clock.runs), bounded=False)

    def _new_generation(self, generation: int) -> None:
        self._generation = generation
        self._unsent = 0

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        """Each second: take what other workers changed; if the clock is not where the process believes it
        is, tell it."""
        if loop is not self._loop:
            return  # the link moved to another loop, where a beat of its own runs
        if not (self._link.running or self.ledger.shared):
            self._heartbeat = None  # started again with the next message to a process
            return
        if self.ledger.shared:
            self.sync()
        reading = self._reading
        if reading is not None and self._link.running:
            believed = reading[0] + (time.monotonic() - reading[1] if self.clock.runs else 0.0)
            if abs(self.clock.now() - believed) > 0.001:
                self._send_clock()
        self._heartbeat = loop.call_later(HEARTBEAT, self._beat, loop)

    def _reported(self, report: tuple[Any, ...]) -> None:
        if report[0] != REPORT:
            return
        _, generation, attempts, counts, (received, room) = report
        # What it had room for then, less what was sent since that it had not read yet.
        self._room = room - (self._sent - received)
        if generation != self._generation:
            return  # from before a reset
        self._heard = generation
        self.ledger.report(generation, os.getpid(), attempts, counts)


def webhook_sender(spec: ApiSpec) -> tuple[str, str]:
    """The ``vendor`` and ``model_name`` of a task event's data, as the spec's ``WebhookTaskData`` fixes them."""
    try:
        properties = spec.document["components"]["schemas"]["WebhookTaskData"]["properties"]
        return str(properties["vendor"]["const"]), str(properties["model_name"]["const"])
    except (KeyError, TypeError):
        raise SpecError("the spec's WebhookTaskData must fix vendor and model_name with const") from None
