"""make bench's section on rendered videos: every duration, and the aim checked against the wait."""

from __future__ import annotations

from benchmarks.render import DURATIONS, markdown


def figures(ready_5s: float) -> dict[str, object]:
    by_duration = {seconds: seconds / 10 for seconds in DURATIONS}
    return {
        "niceness": 19,
        "render_process_niceness": 19,
        "render": {"url": by_duration, "photo": by_duration},
        "waits": {"first_byte": by_duration, "created_to_whole": {**by_duration, 5: ready_5s}},
    }


def test_the_section_has_every_duration_and_says_whether_the_aim_was_met() -> None:
    text = "\n".join(markdown(figures(0.8)))
    assert "| 5 s | 10 s | 15 s |" in text and "task succeeded → first byte" in text
    assert "niceness 19" in text and "met (0.80 s" in text
    assert "**not met** (1.20 s" in "\n".join(markdown(figures(1.2)))
