"""How tasks look on the wire: ``task_info``, ``videos`` and the error object, in the configured readings."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.clock import TimestampStyle, timestamp
from mockserver.settings import ErrorPlacement
from mockserver.tasks import Phase, Task, TaskState

ASSET_PREFIX = "/__mock/assets"
VIDEO_NAME = "result_00.mp4"


def video_path(task_id: str) -> str:
    return f"{ASSET_PREFIX}/{task_id}/{VIDEO_NAME}"


class Presenter:
    """Turns tasks into response bodies.

    Args:
        words: Status word for each phase, from one of the spec's vocabularies.
        error_placement: ``task_info`` puts the error object in ``task_info.error``; ``top_level``
            puts it beside ``task_info``.
        timestamps: The timestamp style.
    """

    def __init__(self, words: Mapping[str, str], error_placement: ErrorPlacement, timestamps: TimestampStyle) -> None:
        self.words = {Phase(phase): word for phase, word in words.items()}
        self.error_placement = error_placement
        self.timestamps = timestamps
        status = json.dumps(self.words[Phase.QUEUED]).replace("%", "%%")
        self._created = '{"task_info":{"id":"%s","status":' + status + ',"created_at":"%s","updated_at":"%s"}}'
        self._info = {
            phase: '{"task_info":{"id":"%s","status":'
            + json.dumps(word).replace("%", "%%")
            + ',"created_at":"%s","updated_at":"%s"}'
            for phase, word in self.words.items()
        }

    def created(self, task: Task) -> bytes:
        """The JSON body of the ``202`` that answers a create.

        Every create gets this answer, so it is filled into a template instead of going through
        ``json.dumps``: the id and timestamps need no escaping, and the status word is escaped once.
        """
        stamp = timestamp(task.created_at, self.timestamps)
        return (self._created % (task.id, stamp, stamp)).encode()

    def result_json(self, task: Task, state: TaskState, base_url: Callable[[], str]) -> bytes:
        """The JSON body of a poll: ``task_info``, plus ``videos`` or the error once the task has ended.

        Filled into a template (every poll gets one), except for a failed task, whose error text
        needs escaping.
        """
        if state.phase is Phase.FAILED:
            return json.dumps(self._failed(task, state), ensure_ascii=False, separators=(",", ":")).encode()
        info = self._info[state.phase] % (
            task.id,
            timestamp(task.created_at, self.timestamps),
            timestamp(state.since, self.timestamps),
        )
        if state.phase is Phase.SUCCEEDED:
            info += ',"videos":' + json.dumps([base_url().rstrip("/") + video_path(task.id)], ensure_ascii=False)
        return (info + "}").encode()

    def result(self, task: Task, state: TaskState, base_url: str) -> dict[str, Any]:
        """:meth:`result_json` as a dict: one rendering of a poll's body, read back."""
        body: dict[str, Any] = json.loads(self.result_json(task, state, lambda: base_url))
        return body

    def _failed(self, task: Task, state: TaskState) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": task.id,
            "status": self.words[state.phase],
            "created_at": timestamp(task.created_at, self.timestamps),
            "updated_at": timestamp(state.since, self.timestamps),
        }
        body: dict[str, Any] = {"task_info": info}
        if task.failure is not None:
            error = {
                "code": task.failure.code,
                "error_code": task.failure.code,
                "title": task.failure.title,
                "detail": task.failure.detail,
            }
            (info if self.error_placement == "task_info" else body)["error"] = error
        return body
