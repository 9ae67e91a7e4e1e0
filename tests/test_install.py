"""What `pip install wan-spark-toolkit` gives a service's environment: the mock and the pytest plugin,
without the contract suites' tools (those are the ``contract`` extra). The wheel goes into a clean
virtual environment, as a user's would; its dependencies come from the package index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.test_pytest_plugin import readme_files

pytestmark = pytest.mark.socket


def run(*command: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MOCK_", "PYTHON"))}
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=600
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the wheel and pytest installed, nothing else asked for."""
    root = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root, REPO)
    (wheel,) = root.glob("wan_spark_toolkit-*.whl")
    run(sys.executable, "-m", "venv", root / "venv")
    python = root / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, "pytest")
    return root / "venv"


def test_the_contract_tools_are_an_extra(venv: Path) -> None:
    listed = run(venv / "bin" / "python", "-m", "pip", "list", "--format=freeze").stdout.lower()
    assert "wan-spark-toolkit==" in listed
    for tool in ("hypothesis", "schemathesis"):
        assert f"\n{tool}==" not in "\n" + listed, tool
    refused = run(venv / "bin" / "spark-contract", check=False)
    assert refused.returncode == 2
    assert "pip install 'wan-spark-toolkit[contract]'" in refused.stderr


def test_the_readme_example_passes_with_the_plugin_of_the_installed_package(venv: Path, tmp_path: Path) -> None:
    for name, text in readme_files().items():
        (tmp_path / name).write_text(text)
    done = run(venv / "bin" / "python", "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", "-q", cwd=tmp_path)
    assert "3 passed" in done.stdout, done.stdout[-3000:]
    assert run(venv / "bin" / "spark-mock", "--version").stdout.startswith("spark-mock")
