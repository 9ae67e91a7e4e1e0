"""An independent stand-in of the live wan2.6-i2v-spark API, written only from the public documentation.

Sources: the endpoint's documentation page (the two copies in /work/shared/seeds/) and
/work/shared/reference/api-facts.md. Nothing here comes from ``mockserver``, ``contract_tests`` or
spec/openapi.yaml: this is a second implementation, used to show that the contract suites raise no
false alarm against a server that follows the docs but reads them differently where they are silent.

Readings taken where the docs are silent (some deliberately differ from the project's own contract):

- Status words are the per-endpoint pages' legacy ones: ``pending`` -> ``processing`` -> ``completed``,
  a third of ``speed_seconds`` each (completed from two thirds on); no task ever fails. Only a completed
  task has top-level ``videos``: one URL, on the host the poll came to. Timestamps are whole seconds
  with ``Z``; each status change moves ``updated_at`` on by at least a second (so at fast speeds it may
  run a second or two ahead of the wall clock). Polls and video downloads are GET only (else 405).
- Every 4xx body is ``{"error": "<message>"}``. A body over 40 MB is a 413; a content type other than
  JSON, or a body that is not a JSON object, is a 400. Other methods on the create path are a 405.
- ``prompt`` and ``image`` are required; ``null`` there is "missing", ``null`` in any optional field is
  "absent". Unknown fields, ``multi_shots`` included, are ignored whatever their value.
- Lengths count code points (``prompt`` <= 2000, ``negative_prompt`` <= 500).
- An image is an http(s) URL with a host (never fetched), a ``data:image/<any>;base64,`` URI, or raw
  strict Base64. "Max 10MB" is 10,000,000 decoded bytes. Only the header is read: Pillow must name it
  JPEG, PNG, BMP or WEBP, 360..2000 px a side; a cut-short file with a good header is accepted.
  "PNG (no transparency)" refuses a PNG in mode RGBA/LA/PA or with a tRNS entry, even if fully opaque.
- Integral floats (``5.0``) are integers; booleans are not. ``duration`` is 5, 10 or 15; ``seed``
  0..2147483647; ``resolution`` exactly ``"1080P"``. ``audio_url`` is any http(s) URL with a host, of
  any length.
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import math
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from tests.helpers import REPO

CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
VIDEO_FILE = REPO / "fixtures/video/result_00.mp4"
MAX_TASKS = 10_000
MAX_BODY = 40_000_000
MAX_IMAGE_BYTES = 10_000_000
STATUSES = ("pending", "processing", "completed")
IMAGE_FORMATS = ["JPEG", "PNG", "BMP", "WEBP"]
DATA_URI = re.compile(r"data:image/[^;,]*;base64,(.*)", re.DOTALL)
FILE_PATH = re.compile(r"/files/([^/]+)/result_00\.mp4")


class Invalid(Exception):
    """A create body the docs refuse; the message names the field."""


@dataclass
class Task:
    id: str
    started: float  # the stand-in's clock at creation
    created_wall: float  # Unix time at creation
    phase: int = 0  # index into STATUSES; only ever grows


def stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def is_http_url(value: str) -> bool:
    if any(c.isspace() or ord(c) < 32 for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def as_int(value: Any) -> int | None:
    """The integer a JSON value stands for (``5.0`` is 5), or None; booleans are not integers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def check_image(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string (an image URL or Base64 data)")
    if is_http_url(value):
        return
    match = DATA_URI.fullmatch(value)
    try:
        data = base64.b64decode(match.group(1) if match else value, validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise Invalid(f"{field} is neither an http(s) URL nor valid Base64 image data") from exc
    if len(data) > MAX_IMAGE_BYTES:
        raise Invalid(f"{field} is larger than 10MB ({len(data)} bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            kind, (width, height), mode, info = image.format, image.size, image.mode, image.info
    except Exception as exc:  # Pillow raises many kinds for data it cannot read
        raise Invalid(f"{field} is not a JPEG, PNG, BMP or WEBP image") from exc
    if not (360 <= width <= 2000 and 360 <= height <= 2000):
        raise Invalid(f"{field} is {width}x{height} px; both sides must be 360-2000 px")
    if kind == "PNG" and (mode in ("RGBA", "LA", "PA") or "transparency" in info):
        raise Invalid(f"{field} is a PNG with transparency")


def check_body(body: dict[str, Any]) -> None:
    """Raise Invalid unless the create body follows the docs (see the module docstring)."""
    prompt = body.get("prompt")
    if prompt is None:
        raise Invalid("prompt is required")
    if not isinstance(prompt, str) or len(prompt) > 2000:
        raise Invalid("prompt must be a string of at most 2000 characters")
    if body.get("image") is None:
        raise Invalid("image is required")
    check_image("image", body["image"])
    present = {key: value for key, value in body.items() if value is not None}
    if "last_frame" in present:
        check_image("last_frame", present["last_frame"])
    negative = present.get("negative_prompt", "")
    if not isinstance(negative, str) or len(negative) > 500:
        raise Invalid("negative_prompt must be a string of at most 500 characters")
    if present.get("resolution", "1080P") != "1080P":
        raise Invalid('resolution must be "1080P"')
    if "duration" in present and as_int(present["duration"]) not in (5, 10, 15):
        raise Invalid("duration must be 5, 10 or 15")
    for flag in ("prompt_extend", "audio"):
        if not isinstance(present.get(flag, False), bool):
            raise Invalid(f"{flag} must be a boolean")
    if present.get("shot_type", "single") not in ("single", "multi"):
        raise Invalid('shot_type must be "single" or "multi"')
    if "audio_url" in present and not (isinstance(present["audio_url"], str) and is_http_url(present["audio_url"])):
        raise Invalid("audio_url must be an http(s) URL")
    if "seed" in present:
        seed = as_int(present["seed"])
        if seed is None or not 0 <= seed <= 2147483647:
            raise Invalid("seed must be an integer in [0, 2147483647]")


async def read_body(receive: Receive) -> bytes | None:
    """The request body, or None as soon as it grows past MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class StandIn:
    """The ASGI app. ``tasks`` maps each accepted task id to its Task record, oldest first."""

    def __init__(self, api_key: str, speed_seconds: float, clock: Callable[[], float]) -> None:
        self.api_key = api_key
        self.speed_seconds = speed_seconds
        self.clock = clock
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self._video: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
                message["headers"] = [*message.get("headers", []), (b"traceparent", trace.encode())]
            await send(message)

        response = await self.handle(scope, receive)
        await response(scope, receive, send_traced)

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        request = Request(scope)
        path, method = scope["path"], scope["method"]
        if path == CREATE_PATH:
            if method != "POST":
                return error(405, f"method {method} not allowed", {"Allow": "POST"})
            return await self.create(request, receive)
        if path.startswith(CREATE_PATH + "/") and "/" not in path[len(CREATE_PATH) + 1 :]:
            if method != "GET":
                return error(405, f"method {method} not allowed", {"Allow": "GET"})
            return self.poll(request, path[len(CREATE_PATH) + 1 :])
        match = FILE_PATH.fullmatch(path)
        if match and match.group(1) in self.tasks:
            if method != "GET":
                return error(405, f"method {method} not allowed", {"Allow": "GET"})
            if self._video is None:
                self._video = VIDEO_FILE.read_bytes()
            return Response(self._video, media_type="video/mp4")
        return error(404, f"not found: {path}")

    def authorized(self, headers: Headers) -> bool:
        given = headers.get("authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {self.api_key}".encode())

    async def create(self, request: Request, receive: Receive) -> Response:
        if not self.authorized(request.headers):
            return error(401, "missing or invalid API key")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return error(400, "the body must be JSON (Content-Type: application/json)")
        length = request.headers.get("content-length", "0")
        if length.isdigit() and int(length) > MAX_BODY:
            return error(413, "the body is larger than 40 MB")
        raw = await read_body(receive)
        if raw is None:
            return error(413, "the body is larger than 40 MB")
        try:
            body = json.loads(raw, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            return error(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object")
        try:
            check_body(body)
        except Invalid as exc:
            return error(400, str(exc))
        task = Task(str(uuid.uuid4()), self.clock(), time.time())
        self.tasks[task.id] = task
        while len(self.tasks) > MAX_TASKS:
            self.tasks.popitem(last=False)
        return JSONResponse({"task_info": self.task_info(task)}, status_code=202)

    def poll(self, request: Request, task_id: str) -> Response:
        if not self.authorized(request.headers):
            return error(401, "missing or invalid API key")
        task = self.tasks.get(task_id)
        if task is None:
            return error(404, f"task {task_id} does not exist")
        elapsed = self.clock() - task.started
        third = self.speed_seconds / 3
        reached = 2 if elapsed >= 2 * third else 1 if elapsed >= third else 0
        task.phase = max(task.phase, reached)
        body: dict[str, Any] = {"task_info": self.task_info(task)}
        if STATUSES[task.phase] == "completed":
            body["videos"] = [f"{request.base_url}files/{task.id}/result_00.mp4"]
        return JSONResponse(body)

    def task_info(self, task: Task) -> dict[str, str]:
        created = math.floor(task.created_wall)
        fraction = task.created_wall - created
        # Each phase begins a third of the way further; its stamp is at least one second past the last one.
        updated = created + max(task.phase, math.floor(fraction + task.phase * self.speed_seconds / 3))
        status = STATUSES[task.phase]
        return {"id": task.id, "status": status, "created_at": stamp(created), "updated_at": stamp(updated)}


def docs_stand_in(api_key: str, *, speed_seconds: float = 0.3, clock: Callable[[], float] = time.monotonic) -> StandIn:
    """A stand-in of the live API that accepts ``api_key``.

    A task walks pending -> processing -> completed in thirds of ``speed_seconds``: it is processing
    from one third and completed from two thirds on. ``clock`` (seconds, monotonic) drives the walk.
    """
    return StandIn(api_key, speed_seconds, clock)
