"""What drift found: the differences between a recording and the mock, the calls that could not be
compared, and the settings that would make the mock follow the recording; as Markdown, JSON and a summary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Difference:
    """One way the mock answered a recorded call differently from the target."""

    call: int
    probe: str
    aspect: str
    recorded: str
    mock: str


@dataclass
class Uncompared:
    """A recorded call whose answer says nothing about the contract, so it is not replayed."""

    call: int
    probe: str
    request: str
    recorded_status: int
    why: str


@dataclass
class DriftReport:
    """The differences between a recording and the mock, and how to make the mock follow the recording."""

    cassette: str
    target: str
    settings: dict[str, str]
    follow: dict[str, str]
    calls: int
    differences: list[Difference] = field(default_factory=list)
    not_comparable: list[Uncompared] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.differences else 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": "DRIFT" if self.differences else "NO DRIFT"}

    def markdown(self) -> str:
        verdict = f"**{len(self.differences)} differences**" if self.differences else "**No drift**"
        lines = [f"# Drift: {self.cassette} against the mock", "", verdict, ""]
        lines += [f"Recorded against {self.target}; {self.calls} calls replayed.", ""]
        settings = " ".join(f"`{k}={v}`" for k, v in self.settings.items()) or "the defaults"
        lines += [f"Mock settings: {settings}.", ""]
        if self.follow:
            lines += [
                "To make the mock follow this recording: "
                + " ".join(f"`{k}={v}`" for k, v in self.follow.items())
                + " (or `FOLLOW=1`).",
                "",
            ]
        if self.differences:
            lines += ["| Call | Probe | Aspect | Recorded | Mock |", "|---|---|---|---|---|"]
            for d in self.differences:
                lines.append(f"| {d.call} | `{d.probe}` | {d.aspect} | {_cell(d.recorded)} | {_cell(d.mock)} |")
        if self.not_comparable:
            lines += [
                "",
                "## Not comparable",
                "",
                "These calls' last answers were about the target's state that day, not about the contract, so",
                "they were not replayed and are not differences.",
                "",
                "| Call | Probe | Request | Recorded | Why |",
                "|---|---|---|---|---|",
            ]
            for u in self.not_comparable:
                lines.append(f"| {u.call} | `{u.probe}` | {_cell(u.request)} | {u.recorded_status} | {u.why} |")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        lines = [
            f"Drift between {self.cassette} and the mock: {len(self.differences)} differences in {self.calls} calls"
        ]
        by_aspect: dict[str, int] = {}
        for d in self.differences:
            by_aspect[d.aspect] = by_aspect.get(d.aspect, 0) + 1
        lines += [f"  {aspect}: {count}" for aspect, count in sorted(by_aspect.items())]
        lines += [
            f"  call {d.call} ({d.probe}) {d.aspect}: recorded {d.recorded} | mock {d.mock}"
            for d in self.differences[:25]
        ]
        if len(self.differences) > 25:
            lines.append(f"  ... and {len(self.differences) - 25} more in the report")
        if self.not_comparable:
            lines.append(
                f"{len(self.not_comparable)} calls not comparable (no answer, 429 or 5xx at the target); see the report"
            )
        if self.follow:
            lines.append("To follow the recording: " + " ".join(f"{k}={v}" for k, v in self.follow.items()))
        return "\n".join(lines)


def write(report: DriftReport, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown, machine = directory / "drift.md", directory / "drift.json"
    markdown.write_text(report.markdown(), encoding="utf-8")
    machine.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    return [markdown, machine]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]
