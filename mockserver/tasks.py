"""Tasks and their lifecycle: the domain of the mock.

A task's status is never stored. It is a pure function of the task and the time it is read at
(:func:`state_at`): the timeline is fixed when the task is created, so no background thread
moves tasks, and reading a task twice at the same time gives the same answer.

This module knows neither Starlette nor openapi-core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Phase(StrEnum):
    """Where a task is in its lifecycle. The words a client sees come from the spec's vocabularies."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


# The moves state_at can make. The spec states the lifecycle too (x-task-lifecycle); the app refuses
# to start if the two disagree, so the documented lifecycle is the one the mock runs.
INITIAL = Phase.QUEUED
TRANSITIONS = {
    Phase.QUEUED: frozenset({Phase.RUNNING, Phase.FAILED}),
    Phase.RUNNING: frozenset({Phase.SUCCEEDED, Phase.FAILED}),
}


@dataclass(frozen=True, slots=True)
class Failure:
    """How a task fails: a documented error code, and the phase it fails from."""

    code: int
    title: str
    detail: str
    stage: Phase = Phase.RUNNING

    def __post_init__(self) -> None:
        if self.stage not in (Phase.QUEUED, Phase.RUNNING):
            raise ValueError(f"a task can only fail from queued or running, not {self.stage}")


class Task(NamedTuple):
    """A generation task, with the timeline it will follow (immutable; a tuple, because one is made
    for every create and a tuple is the cheapest immutable record to make).

    Attributes:
        id: The task id (a UUID string).
        created_at: When it was created (seconds since the epoch).
        queue_seconds: How long it waits before a worker takes it (or before it fails, when it
            fails from the queue).
        run_seconds: How long it runs before it succeeds or fails; ``math.inf`` never ends.
        failure: How it fails, or ``None`` if it succeeds.
        video_seconds: The duration the request asked for.
        rendering: The key of its video's rendering (:mod:`mockserver.video_recipe`); ``None`` serves
            the fixed video.
    """

    id: str
    created_at: float
    queue_seconds: float
    run_seconds: float
    failure: Failure | None = None
    video_seconds: int = 5
    rendering: str | None = None


_new_task = tuple.__new__


class TaskState(NamedTuple):
    """A task as seen at one moment: its phase, and when it entered that phase."""

    phase: Phase
    since: float


def timeline(task: Task) -> dict[str, float | None]:
    """Seconds after its creation at which ``task`` enters each phase it will pass through; ``None``
    for an end it never reaches (a stalled task)."""
    started = task.queue_seconds
    if task.failure is not None and task.failure.stage is Phase.QUEUED:
        return {Phase.QUEUED.value: 0.0, Phase.FAILED.value: started}
    end = Phase.FAILED if task.failure is not None else Phase.SUCCEEDED
    finished = started + task.run_seconds
    return {
        Phase.QUEUED.value: 0.0,
        Phase.RUNNING.value: started,
        end.value: None if math.isinf(finished) else finished,
    }


def state_at(task: Task, now: float) -> TaskState:
    """The phase ``task`` is in at time ``now``. Phases only move forwards as ``now`` grows."""
    started = task.created_at + task.queue_seconds
    if now < started:
        return TaskState(Phase.QUEUED, task.created_at)
    if task.failure is not None and task.failure.stage is Phase.QUEUED:
        return TaskState(Phase.FAILED, started)
    finished = started + task.run_seconds
    if now < finished:
        return TaskState(Phase.RUNNING, started)
    return TaskState(Phase.FAILED if task.failure is not None else Phase.SUCCEEDED, finished)


# How long a real generation takes is not documented for this model. Alibaba says Wan
# image-to-video tasks take one to five minutes, and MuleRouter's examples show about two: so a
# task waits 2-15 s in the queue, then runs about 40 s plus 8 s per second of video (10 s more when
# the prompt is rewritten), plus up to 30 s of jitter. A 5 s video takes about 1.5-2.5 minutes.
QUEUE_SECONDS = (2.0, 15.0)
RUN_BASE_SECONDS = 40.0
RUN_SECONDS_PER_VIDEO_SECOND = 8.0
PROMPT_EXTEND_SECONDS = 10.0
RUN_JITTER_SECONDS = 30.0
# A task that fails while running does so half-way through.
FAIL_AT_FRACTION = 0.5


def plan_task(
    task_id: str,
    created_at: float,
    video_seconds: int,
    prompt_extend: bool,
    speed: float,
    failure: Failure | None = None,
    stall: bool = False,
    jitter: tuple[float, float] = (0.5, 0.5),
    rendering: str | None = None,
) -> Task:
    """Fix the timeline of a new task.

    Args:
        task_id: The new task's id.
        created_at: Its creation time.
        video_seconds: The requested video duration, which makes generation longer.
        prompt_extend: Whether the prompt is rewritten, which adds latency.
        speed: How many times faster than real time the task should progress.
        failure: How it fails, if it does.
        stall: Never leave ``running`` (for testing a client's timeout).
        jitter: Two numbers in [0, 1] that place the queue and run times within their ranges;
            derive them from the id so that the same id always gets the same timeline.
        rendering: The key of the video's rendering, if it is rendered.
    """
    low, high = QUEUE_SECONDS
    queue = low + (high - low) * jitter[0]
    run = (
        RUN_BASE_SECONDS
        + RUN_SECONDS_PER_VIDEO_SECOND * video_seconds
        + (PROMPT_EXTEND_SECONDS if prompt_extend else 0.0)
        + RUN_JITTER_SECONDS * jitter[1]
    )
    if failure is not None and failure.stage is Phase.RUNNING:
        run *= FAIL_AT_FRACTION
    if stall:
        run = math.inf
    # Made as a tuple is (the named tuple's own constructor is Python code, and one is made per create).
    return _new_task(Task, (task_id, created_at, queue / speed, run / speed, failure, video_seconds, rendering))
