"""``python -m benchmarks.render``: how long a video takes to render on this machine, and how long a
client waits for it once its task has succeeded. ``make bench`` reports both (a section of results.md).

Rendering: ``footage.render`` in this process (what the render process runs), for 5, 10 and 15 s, with
a URL image (the plain picture) and with a photo as first and last frame, multi-shot; the median of
``RENDER_REPEAT`` runs (default 3).

Waiting: ``spark-mock --speed 600`` (a task lasts about 0.2 s) on an empty cache; for each duration, a
request with an image of its own (nothing to reuse), polled every 5 ms until it succeeds, then its
video downloaded. Success to first byte is what a client that downloads at once waits; the median of
``RENDER_ROUNDS`` rounds (default 3). Both run at this process's niceness (the render process lowers
its own to ``render_worker.NICENESS``): say so when you report them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from mockserver.footage import render
from mockserver.launcher import launch
from mockserver.render_worker import NICENESS
from mockserver.video_recipe import recipe_for

CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
AUTH = {"Authorization": "Bearer sk-mr-bench"}
DURATIONS = (5, 10, 15)
URL = "https://example.com/first_frame.jpg"
AIM_SECONDS = 1.0  # the aim: a 5 s video ready within a second


def photo(seed: int, size: tuple[int, int] = (1600, 1200)) -> str:
    """A photo-like JPEG as a data URI: smooth colour fields with fine grain (what x264 meets in practice)."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, 3).astype(np.float32)
    rgb = base + 50 * np.sin(xs[..., None] / (90 + 40 * rng.random(3)) + ys[..., None] / 130)
    rgb += rng.normal(0, 6, rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_times(repeat: int) -> dict[str, dict[int, float]]:
    """Median seconds to render each duration: ``url`` (plain picture, one shot) and ``photo`` (a photo
    as first and last frame, three shots)."""
    first, last = photo(1), photo(2)
    cases: dict[str, dict[str, Any]] = {
        "url": {"image": URL},
        "photo": {"image": first, "last_frame": last},
    }
    found: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="spark-render-") as scratch:
        out = Path(scratch) / "video.mp4"
        render(recipe_for({"duration": 5, "image": URL, "prompt_extend": True}, None), out)  # warm: imports, caches
        for name, fields in cases.items():
            shot = "multi" if name == "photo" else None
            for seconds in DURATIONS:
                recipe = recipe_for({**fields, "duration": seconds, "prompt_extend": True}, shot)
                runs = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    render(recipe, out)
                    runs.append(time.perf_counter() - started)
                found.setdefault(name, {})[seconds] = statistics.median(runs)
    return found


def waits(rounds: int) -> dict[str, dict[int, float]]:
    """Median seconds, for each duration, from the poll that first saw ``succeeded`` to the first byte
    of the video (``first_byte``), and from the create's answer to the last byte (``created_to_whole``)."""
    samples: dict[str, dict[int, list[float]]] = {"first_byte": {}, "created_to_whole": {}}
    with tempfile.TemporaryDirectory(prefix="spark-render-") as scratch:
        options = ("--speed", "600", "--log-level", "warning", "--state-file", str(Path(scratch) / "state.sqlite"))
        with launch(*options) as mock, httpx.Client(base_url=mock.url, headers=AUTH, timeout=120) as client:
            _one(client, {"image": photo(0, (640, 480)), "duration": 5})  # starts the render process
            for number in range(rounds):
                for seconds in DURATIONS:
                    image = photo(100 * number + seconds, (640, 480))  # its own: nothing cached to reuse
                    first_byte, whole = _one(client, {"image": image, "duration": seconds})
                    samples["first_byte"].setdefault(seconds, []).append(first_byte)
                    samples["created_to_whole"].setdefault(seconds, []).append(whole)
    return {name: {s: statistics.median(v) for s, v in by.items()} for name, by in samples.items()}


def _one(client: httpx.Client, fields: dict[str, Any]) -> tuple[float, float]:
    created = client.post(CREATE_PATH, json={"prompt": "bench", **fields})
    created.raise_for_status()
    created_at = time.perf_counter()
    task_id = created.json()["task_info"]["id"]
    while True:
        polled = client.get(f"{CREATE_PATH}/{task_id}").json()
        if polled["task_info"]["status"] == "succeeded":
            break
        time.sleep(0.005)
    succeeded_at = time.perf_counter()
    with client.stream("GET", polled["videos"][0]) as download:
        download.raise_for_status()
        chunks = download.iter_bytes()
        received = len(next(chunks))
        first_byte_at = time.perf_counter()
        received += sum(len(chunk) for chunk in chunks)
        if received != int(download.headers["content-length"]):
            raise RuntimeError(f"a partial video: {received} of {download.headers['content-length']} bytes")
    return first_byte_at - succeeded_at, time.perf_counter() - created_at


def measure() -> dict[str, Any]:
    """Everything this module measures, for ``make bench``'s results.json."""
    return {
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "render_process_niceness": max(NICENESS, os.getpriority(os.PRIO_PROCESS, 0)),
        "render": render_times(int(os.environ.get("RENDER_REPEAT", "3"))),
        "waits": waits(int(os.environ.get("RENDER_ROUNDS", "3"))),
    }


def markdown(r: dict[str, Any]) -> list[str]:
    """The section of results.md."""
    render_ = r["render"]
    lines = [
        "## Rendered videos",
        "",
        f"Rendering at niceness {r['niceness']} (the render process at {r['render_process_niceness']}):"
        " H.264 1080p at 8 fps, x264 ultrafast, AAC; median seconds.",
        "",
        "| Video | " + " | ".join(f"{s} s" for s in DURATIONS) + " |",
        "|---|" + "---:|" * len(DURATIONS),
        "| URL image (plain picture), one shot | " + " | ".join(f"{render_['url'][s]:.2f}" for s in DURATIONS) + " |",
        "| photo first and last frame, three shots | "
        + " | ".join(f"{render_['photo'][s]:.2f}" for s in DURATIONS)
        + " |",
        "| at speed 600: task succeeded → first byte of its video | "
        + " | ".join(f"{r['waits']['first_byte'][s]:.2f}" for s in DURATIONS)
        + " |",
        "| at speed 600: create answered → whole video received | "
        + " | ".join(f"{r['waits']['created_to_whole'][s]:.2f}" for s in DURATIONS)
        + " |",
        "",
        f"Aim, a 5 s video ready within {AIM_SECONDS:g} s of wall time: "
        + ("met" if r["waits"]["created_to_whole"][5] <= AIM_SECONDS else "**not met**")
        + f" ({r['waits']['created_to_whole'][5]:.2f} s from the create's answer to the whole video).",
    ]
    return lines


def main() -> int:
    results = measure()
    sys.stdout.write(json.dumps(results, indent=2) + "\n\n" + "\n".join(markdown(results)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
