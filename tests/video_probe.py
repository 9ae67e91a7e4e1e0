"""Reading a video back with a real decoder (FFmpeg, through PyAV), as a player would: its streams, its
length, its frames; and the pictures the tests send, with the colour statistics to compare them by."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import av
import av.logging
import numpy as np
from PIL import Image

Colour = tuple[int, int, int]
# FFmpeg's log levels: a message at this level or more severe is a problem a player would report.
WARNING = 24
# A cut: consecutive frames (a tenth of their size) differ by more than this on average (0-255).
CUT_DIFFERENCE = 12.0


@dataclass(frozen=True)
class Probe:
    """What a decoder finds in a video: the container's length, the frame size, the codec of each
    stream, every frame (shrunk to a tenth, RGB), the file's comment, and FFmpeg's complaints."""

    duration: float
    width: int
    height: int
    codecs: tuple[str, ...]
    stream_seconds: tuple[float, ...]
    frames: list[np.ndarray] = field(repr=False)
    comment: str
    problems: list[str]


def probe(data: bytes) -> Probe:
    """Decode every frame of every stream of an MP4, collecting FFmpeg's warnings and errors."""
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs, av.open(io.BytesIO(data), mode="r") as container:
            video = container.streams.video[0]
            width, height = video.codec_context.width, video.codec_context.height
            codecs = tuple(stream.codec_context.name for stream in container.streams)
            seconds = tuple(
                float(stream.duration * stream.time_base)
                for stream in container.streams
                if stream.duration is not None and stream.time_base is not None
            )
            frames = [
                frame.to_ndarray(width=width // 10, height=height // 10, format="rgb24")
                for frame in container.decode(video=0)
            ]
            if container.streams.audio:  # every sound frame decodes too
                container.seek(0)
                for _ in container.decode(audio=0):
                    pass
            duration = (container.duration or 0) / 1e6
            comment = str(container.metadata.get("comment", ""))
    finally:
        av.logging.set_level(None)
    problems = [f"{name}: {message.strip()}" for level, name, message in logs if level <= WARNING]
    return Probe(duration, width, height, codecs, seconds, frames, comment, problems)


def grid(picture: np.ndarray, cells: int = 2) -> np.ndarray:
    """The mean colour of each cell of a ``cells`` × ``cells`` grid over an RGB picture."""
    rows = np.array_split(picture.astype(np.float64), cells, axis=0)
    return np.array([[cell.reshape(-1, 3).mean(axis=0) for cell in np.array_split(row, cells, axis=1)] for row in rows])


def cuts(frames: list[np.ndarray]) -> list[int]:
    """The frames that differ from the one before by more than a camera's movement can explain."""
    return [
        index
        for index in range(1, len(frames))
        if np.abs(frames[index].astype(np.int16) - frames[index - 1].astype(np.int16)).mean() > CUT_DIFFERENCE
    ]


def quadrants(size: tuple[int, int], colours: tuple[Colour, Colour, Colour, Colour]) -> Image.Image:
    """A picture of four flat quadrants (top left, top right, bottom left, bottom right): colour
    statistics tell it from any other, and any change of framing shows."""
    width, height = size
    image = Image.new("RGB", size)
    for index, colour in enumerate(colours):
        left, top = (index % 2) * (width // 2), (index // 2) * (height // 2)
        image.paste(colour, (left, top, left + width - width // 2, top + height - height // 2))
    return image


def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def expected_grid(colours: tuple[Colour, Colour, Colour, Colour]) -> np.ndarray:
    """The grid of a frame that shows a :func:`quadrants` picture whole: a zoom about its middle keeps it."""
    return np.array(colours, dtype=np.float64).reshape(2, 2, 3)
