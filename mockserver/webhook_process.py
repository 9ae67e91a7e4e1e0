"""The webhook process: where events fall due and are delivered, away from the server's event loop.

A delivery is an HTTP client's work (measured: about 70 µs of CPU for each signed POST through httpx,
two of them for every task), so on the server's loop it would take the CPU from the API's answers:
with webhooks on, creates ran at a quarter of their speed. Here it runs in a process of its own, at
the lowest priority, so that under load the server keeps the CPU and deliveries wait (bounded, and
counted when dropped), and when the load ends they catch up.

The server sends each task as it is created, the endpoints, and its clock's readings
(:mod:`mockserver.webhook_wire`); this process works out when each event is due from the task's
timeline, on that clock, builds the body a poll would answer at that moment, and hands one delivery
per endpoint to the :class:`~mockserver.webhook_delivery.Courier`, whose attempts it reports back.
It ends when the server closes its end of the socket, or goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import pickle
import socket
import uuid
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from mockserver.clock import FollowedClock, TimestampStyle, timestamp
from mockserver.presenter import Presenter
from mockserver.tasks import state_at, timeline
from mockserver.webhook_delivery import Attempt, Courier, Delivery, DeliveryRules
from mockserver.webhook_endpoints import Endpoint
from mockserver.webhook_events import BALANCE_LOW, EVENTS_PER_TASK, TASK_CREATED, Schedule, Scheduled, task_events
from mockserver.webhook_wire import (
    BALANCE,
    CLOCK,
    CONFIG,
    ENDPOINTS,
    HEADER,
    MAX_FRAME,
    REPORT,
    RESET,
    TASKS,
    WireError,
    frame,
    message_of,
    task_from_record,
)

log = logging.getLogger("mockserver")

# The lowest priority: under load the server has the core, and deliveries wait for a quiet moment.
NICENESS = 19
# The longest the scheduler sleeps without reading the clock.
HEARTBEAT = 1.0
PENDING_EVENTS = 10_000
# Reports the server has not read yet, in bytes: beyond this, attempts go unreported rather than pile up.
UNREAD_REPORTS = 4 * 1024 * 1024
# Attempts are reported together, at most this often: the server's loop reads (and records) each report.
REPORT_EVERY = 0.05
QUEUE_FULL_PAUSE = 0.05


class ProcessConfig(NamedTuple):
    """What the process needs from the server's settings and spec (it reads neither itself)."""

    rules: DeliveryRules
    presenter: Presenter
    timestamps: TimestampStyle
    sender: tuple[str, str]
    niceness: int = NICENESS
    #: Events that may wait for their time: one more is dropped, and counted.
    pending_events: int = PENDING_EVENTS


def main(fd: int) -> None:
    """The process's entry point: ``fd`` is its end of the socket to the server, whose first message says
    what the process needs to know; then it works for the server until the server goes."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    header = _read_exactly(sock, HEADER.size)
    (size,) = HEADER.unpack(header)
    kind, blob = message_of(_read_exactly(sock, size))
    if kind != CONFIG or not isinstance(blob, bytes):
        raise WireError("the first message must be the process's configuration")
    config: ProcessConfig = pickle.loads(blob)  # from the server that started this process
    lower_priority(config.niceness)
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C meant for the server; it closes the socket anyway
        asyncio.run(Relay(config).run(sock))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise SystemExit(0)  # the server went before it said anything
        data += piece
    return data


def lower_priority(niceness: int) -> None:
    """Take ``niceness`` for this process, against every other process of the machine.

    With the kernel's autogroups (on by default), a niceness counts only among the processes of one
    session, and sessions share the CPU evenly: a niced process in the server's session would still
    take half a core from anything outside it (measured: a mock serving creates beside another
    mock's catching-up webhooks ran at half its speed). So the process takes a session of its own
    (it ends when the server's end of its socket closes, and needs no signal from a terminal) and
    gives that session the niceness too.
    """
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError):  # no autogroups: the niceness below does it alone
        Path("/proc/self/autogroup").write_text(str(niceness))
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(niceness, os.getpriority(os.PRIO_PROCESS, 0)))


class Dispatcher:
    """Events by due time, on the server's clock as last read; each due event becomes one body and one
    delivery per endpoint."""

    def __init__(self, config: ProcessConfig, courier: Courier) -> None:
        self.presenter = config.presenter
        self.timestamps: TimestampStyle = config.timestamps
        self.vendor, self.model_name = config.sender
        self.courier = courier
        self.clock = FollowedClock()
        self.schedule = Schedule(config.pending_events)
        self.endpoints: list[Endpoint] = []
        self.wakeup = asyncio.Event()
        #: How many tasks the server has sent, for it to know how many more there is room for.
        self.received = 0

    def add_tasks(self, records: Sequence[Any]) -> None:
        push = self.schedule.push
        self.received += len(records)
        for record, base_url in records:
            task = task_from_record(record)
            for due, event_type in task_events(task, timeline(task)):
                push(due, event_type, (task, base_url))
        self.wakeup.set()

    def balance_low(self, data: dict[str, Any]) -> None:
        self.schedule.push(self.clock.now(), BALANCE_LOW, data)
        self.wakeup.set()

    def follow(self, reading: float, runs: bool) -> None:
        self.clock.follow(reading, runs)
        self.wakeup.set()

    def reset(self, generation: int) -> None:
        """Forget what is pending: a new generation starts."""
        self.schedule.clear()
        self.courier.forget(generation)

    @property
    def room(self) -> tuple[int, int]:
        """Tasks received so far, and how many more the schedule is sure to hold: the server sends no more
        than that (see :class:`~mockserver.webhooks.WebhookService`)."""
        return self.received, (self.schedule.capacity - len(self.schedule)) // EVENTS_PER_TASK

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Events pending and dropped, deliveries queued and dropped."""
        courier = self.courier
        return len(self.schedule), self.schedule.dropped, courier.waiting, courier.dropped

    async def run(self) -> None:
        wakeup = self.wakeup
        while True:
            now = self.clock.now()
            # No more events than the courier's queue takes: the rest wait in the schedule (bounded too)
            # rather than be dropped when many fall due at once (a clock advance, the end of a load).
            limit = self.courier.room // len(self.endpoints) if self.endpoints else None
            for item in self.schedule.pop_due(now, limit):
                try:
                    self._fire(item)
                except Exception:  # one event that cannot be sent must not end the process and all it holds
                    log.exception("webhooks: the %s event could not be sent", item.type)
            wakeup.clear()
            due = self.schedule.next_due
            delay = HEARTBEAT if due is None else min(HEARTBEAT, max(0.0, due - now))
            if due is not None and due <= now:
                delay = QUEUE_FULL_PAUSE  # due, but the queue is full: look again once it has drained a bit
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wakeup.wait()

    def _fire(self, item: Scheduled) -> None:
        endpoints = self.endpoints
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


class Relay:
    """The process's end of the socket: messages in, reports of attempts and counts out."""

    def __init__(self, config: ProcessConfig) -> None:
        self.courier = Courier(config.rules, self._attempted)
        self.dispatcher = Dispatcher(config, self.courier)
        self._attempts: list[Attempt] = []
        self._reported: tuple[Any, ...] = ()
        self._writer: asyncio.StreamWriter | None = None

    async def run(self, sock: socket.socket) -> None:
        reader, self._writer = await asyncio.open_connection(sock=sock)
        self.courier.attach()
        try:
            async with asyncio.TaskGroup() as group:
                work = [
                    group.create_task(self.courier.serve()),
                    group.create_task(self.dispatcher.run()),
                    group.create_task(self._report_counts()),
                ]
                await self._read(reader)  # until the server closes its end
                for task in work:
                    task.cancel()
        finally:
            with suppress(OSError):
                self._writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        dispatcher = self.dispatcher
        while True:
            try:
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                if size > MAX_FRAME:
                    raise WireError(f"a frame of {size} bytes")
                message = message_of(await reader.readexactly(size))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            kind = message[0]
            if kind == TASKS:
                dispatcher.add_tasks(message[1])
            elif kind == CLOCK:
                dispatcher.follow(message[1], message[2])
            elif kind == ENDPOINTS:
                dispatcher.endpoints = [Endpoint(id_, url, secret) for id_, url, secret in message[1]]
            elif kind == BALANCE:
                dispatcher.balance_low(message[1])
            elif kind == RESET and message[1] != self.courier.generation:
                # (the generation it has already: nothing to forget; the server says it again when it is
                # not sure the process heard it)
                dispatcher.reset(message[1])
                self._attempts.clear()
                self._report()

    def _attempted(self, attempt: Attempt) -> None:
        if not self._attempts:
            asyncio.get_running_loop().call_later(REPORT_EVERY, self._report)
        self._attempts.append(attempt)

    def _report(self) -> None:
        attempts, self._attempts = self._attempts, []
        counts = self.dispatcher.counts
        writer = self._writer
        if writer is not None and not writer.is_closing() and writer.transport.get_write_buffer_size() < UNREAD_REPORTS:
            report = (REPORT, self.courier.generation, [tuple(a) for a in attempts], counts, self.dispatcher.room)
            writer.write(frame(report))
            self._reported = counts

    async def _report_counts(self) -> None:
        """Counts change without an attempt too (events fall due, deliveries are queued): sent when they do."""
        while True:
            await asyncio.sleep(HEARTBEAT / 4)
            if self.dispatcher.counts != self._reported:
                self._report()
