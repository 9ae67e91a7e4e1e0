"""The Schemathesis CLI, run as a user runs it from a clone: `schemathesis run spec/openapi.yaml --url ...
--checks all`, with a key of the form MuleRouter's keys have.

Against the mock (`spark-mock` with its defaults, as `make mock` starts it) it must find nothing in
more than a thousand generated cases; against a broken variant, the same command must fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver.launcher import SPARK_MOCK, free_port, launch
from tests.helpers import REPO, serve
from tests.stand_ins.broken import build

pytestmark = pytest.mark.socket
BIN = Path(sys.executable).parent
KEY = "sk-mr-schemathesis-cli-key"


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    with launch("--speed", "1000", "--log-level", "warning", log=log, program=SPARK_MOCK) as running:
        yield running.url
    assert "Traceback" not in running.output()


def schemathesis(url: str, report_dir: Path, *extra: str) -> tuple[int, str]:
    """`schemathesis run spec/openapi.yaml --url <url>` from the repository root, with the key."""
    done = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            "spec/openapi.yaml",
            "--url",
            url,
            "-H",
            f"Authorization: Bearer {KEY}",
            "--checks",
            "all",
            "--max-examples",
            "600",  # with this seed and no example database: 1,041 cases at 500, 5,573 at 700
            "--seed",
            "20261122",
            # No example database: what earlier runs stored would change what this one generates, and
            # this run must be the same on every machine.
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-dir",
            str(report_dir),
            *extra,
        ],
        cwd=REPO,  # where schemathesis.toml teaches it the spec's image format
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_schemathesis_cli_finds_nothing_in_over_a_thousand_cases(mock: str, tmp_path: Path) -> None:
    code, output = schemathesis(mock, tmp_path)
    assert code == 0, output[-4000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts, output[-2000:]
    generated, passed = int(counts[1]), int(counts[2])
    assert generated >= 1000 and passed == generated, output[-2000:]
    assert "No issues found" in output
    assert KEY not in output  # Schemathesis sanitises the header it was given


def test_the_same_command_fails_against_a_broken_target(tmp_path: Path) -> None:
    with serve(build("500-on-non-ascii", api_keys=frozenset({KEY})), free_port()) as url:
        code, output = schemathesis(url, tmp_path, "--max-failures", "1")
    assert code == 1, output[-4000:]
    assert "Server error" in output, output[-3000:]


def test_a_mock_that_takes_any_key_fails_the_auth_check(tmp_path: Path) -> None:
    """What the default mock's key form is for: with any token accepted, Schemathesis's made-up key
    passes, and its ``ignored_auth`` check says so."""
    log = tmp_path / "mock.log"
    with launch("--log-level", "warning", env={"MOCK_API_KEYS": "*"}, log=log, program=SPARK_MOCK) as running:
        code, output = schemathesis(running.url, tmp_path, "--max-examples", "5", "--max-failures", "1")
    assert code == 1, output[-4000:]
    assert "API accepts invalid authentication" in output, output[-3000:]
