"""The result video's route: a succeeded task's video, as a file with its ranges.

The file is the task's rendering (waited for if it is still being made: :mod:`mockserver.video_cache`),
or the fixed video when the mock runs without rendering (``MOCK_VIDEO=fixed``) or a rendering could not
be made at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.errors import ApiError
from mockserver.frontdoor import Call, Reply
from mockserver.presenter import VIDEO_NAME
from mockserver.task_service import TaskService
from mockserver.tasks import Phase, Task
from mockserver.video_cache import VideoCache, VideoNotReady
from sparkspec.resources import video_path

MAX_RANGES = 16
_RANGE_PART = re.compile(r"(\d{1,18})-(\d{0,18})|-(\d{1,18})")
# A download whose rendering did not come in time (VideoNotReady) is asked to come back after this long.
RENDER_RETRY_AFTER = 5


class Downloads:
    """The handler of the result video.

    Args:
        tasks: Where the task is read.
        videos: The renderings; ``None`` serves the fixed video to every task.
        find: The task of an id, or the API's ``404`` (the poll's rule for ids).
    """

    def __init__(self, tasks: TaskService, videos: VideoCache | None, find: Callable[[str], Task]) -> None:
        self._tasks = tasks
        self._videos = videos
        self._find = find

    async def video(self, call: Call) -> Reply:
        task = self._find(call.params["task_id"])
        if self._tasks.read(task).phase is not Phase.SUCCEEDED:
            raise ApiError(404, f"Task {task.id} has no video: it has not succeeded")
        path, release = video_path(), None
        videos = self._videos
        if videos is not None and task.rendering is not None:
            try:
                rendered = await videos.file(task.rendering)
            except VideoNotReady as exc:
                raise ApiError(503, str(exc), headers={"Retry-After": str(RENDER_RETRY_AFTER)}) from None
            if rendered is not None:  # else it could not be rendered at all (logged): the fixed video
                path, release = rendered, videos.lease(rendered)
        try:
            scope = call.scope
            ranges = [value for name, value in scope["headers"] if name == b"range"]
            if ranges and not _usable_range(ranges[0].decode("latin-1"), path.stat().st_size):
                # RFC 9110 lets a server ignore a Range it cannot parse: send the whole file, never a bare 400.
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"range"]
            response = FileResponse(path, media_type="video/mp4", filename=VIDEO_NAME)
        except BaseException:
            if release is not None:
                release()
            raise
        return Reply(200, b"", stream=response if release is None else _released(response, release))


def _released(response: ASGIApp, release: Callable[[], None]) -> ASGIApp:
    """``response``, calling ``release`` once it has been sent (or the client has gone)."""

    async def send_then_release(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await response(scope, receive, send)
        finally:
            release()

    return send_then_release


def _usable_range(header: str, size: int) -> bool:
    """A Range header to serve: ``bytes=``, at most ``MAX_RANGES`` well-formed parts, each of which
    the file of ``size`` bytes can satisfy. Any other is ignored, as RFC 9110 allows: the whole file
    goes out, rather than a 416 outside the API's error shape, or one part per byte of CPU time."""
    unit, _, parts = header.partition("=")
    if unit.strip().lower() != "bytes" or not parts.strip() or parts.count(",") >= MAX_RANGES:
        return False
    for part in parts.split(","):
        match = _RANGE_PART.fullmatch(part.strip())
        if match is None:
            return False
        start, end, suffix = match.groups()
        if suffix is not None and int(suffix) == 0:
            return False
        if start is not None and (int(start) >= size or (end and int(start) > int(end))):
            return False
    return True
