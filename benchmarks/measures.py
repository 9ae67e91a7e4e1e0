"""The figures that are not throughput: checking a 10 MB image, the first answer after start, and
the memory of a full store."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import statistics
import time
from dataclasses import dataclass

import httpx
from PIL import Image

from benchmarks import load
from benchmarks.load import Scenario
from benchmarks.servers import LOAD_CPU, pinned, serve_mock
from mockserver import Settings, create_app
from sparkspec.image_rules import ImageRules, check_image
from sparkspec.openapi import ApiSpec

CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
AUTH = {"Authorization": "Bearer sk-mr-bench"}
VALID = {"prompt": "A black cat looks up at the sky", "image": "https://example.com/first_frame.jpg"}


@dataclass(frozen=True, slots=True)
class ImageTiming:
    """How long one 10 MB image takes: the image check alone, and a whole create in-process (ms)."""

    format: str
    width: int
    height: int
    file_bytes: int
    check_ms: float
    create_ms: float


def largest_image(fmt: str, limit: int) -> tuple[bytes, int, int]:
    """A photo-like worst case: random pixels, 2000 px wide, as tall as fits in ``limit`` bytes."""
    width, height = 2000, 2000
    while True:
        pixels = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        buffer = io.BytesIO()
        options = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
        pixels.save(buffer, fmt, **options)
        if buffer.tell() <= limit:
            return buffer.getvalue(), width, height
        height = int(height * limit / buffer.tell() * 0.995)


def image_timings(repeat: int = 7) -> list[ImageTiming]:
    """Median times over ``repeat`` runs, for each format the spec allows, at its size limit."""
    spec = ApiSpec.load()
    (schema,) = spec.schemas_with_extension("x-image-rules").values()
    rules = ImageRules.from_spec(schema["x-image-rules"])
    app = create_app(Settings(speed=1000))
    timings = []
    for fmt in rules.formats:
        data, width, height = largest_image(fmt, rules.max_bytes)
        value = f"data:image/{fmt.lower()};base64,{base64.b64encode(data).decode()}"
        check_image(value, rules)  # it passes, and the first call warms up
        checks = []
        for _ in range(repeat):
            started = time.perf_counter()
            check_image(value, rules)
            checks.append(time.perf_counter() - started)
        body = json.dumps({**VALID, "image": value}).encode()
        creates = asyncio.run(_creates(app, body, repeat))
        timings.append(
            ImageTiming(
                fmt, width, height, len(data), statistics.median(checks) * 1e3, statistics.median(creates) * 1e3
            )
        )
    return timings


async def _creates(app: object, body: bytes, repeat: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    headers = {**AUTH, "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        times = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            answer = await client.post(CREATE_PATH, content=body, headers=headers)
            times.append(time.perf_counter() - started)
            if answer.status_code != 202:
                raise RuntimeError(f"a valid 10 MB image was refused: {answer.text}")
        return times[1:]


def first_answers(times: int = 5) -> list[float]:
    """Seconds from starting ``spark-mock`` to its first 202, each time in a new process."""
    found = []
    body = json.dumps(VALID).encode()
    for _ in range(times):
        # One client, made before the clock starts: httpx.post() would build a new one (and its TLS
        # context) on every try, 30 to 70 ms each, and count them against the mock.
        with httpx.Client(timeout=5) as client:
            started = time.monotonic()
            with serve_mock() as mock:  # returns as soon as the health check answers
                answer = client.post(
                    mock.url + CREATE_PATH, content=body, headers={**AUTH, "Content-Type": "application/json"}
                )
                if answer.status_code == 202:
                    found.append(time.monotonic() - started)
    return found


@dataclass(frozen=True, slots=True)
class StoreMemory:
    tasks: int
    idle_rss: int
    full_rss: int


def store_memory(create: Scenario, tasks: int = 100_000) -> StoreMemory:
    """RSS of ``spark-mock`` (default settings) when idle, and once its store holds ``tasks`` tasks.

    wrk creates them (and more: past the cap the oldest are dropped, which is the steady state).
    """
    with serve_mock() as mock:
        idle = mock.memory()
        stored = 0
        while stored < tasks:
            load.run(mock.url, create, seconds=10, cpu=LOAD_CPU if pinned() else None)
            stored = httpx.get(mock.url + "/__mock/health").json()["tasks"]
        return StoreMemory(stored, idle, mock.memory())
