"""What `pip install wan-spark-toolkit` gives a service's environment: the mock and the pytest plugin,
without the contract suites' tools (those are the ``contract`` extra). The wheel goes into a clean
virtual environment, as a user's would; its dependencies come from the package index."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mockserver.launcher import SPARK_MOCK, launch
from tests.helpers import REPO
from tests.test_pytest_plugin import readme_files

pytestmark = pytest.mark.socket


def run(*command: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MOCK_", "PYTHON"))}
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=600
    )


def pip(venv: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """This environment's pip, working on ``venv`` (which has none of its own: making one costs seconds)."""
    return run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", *args)


def make_venv(path: Path, *requirements: str | Path) -> Path:
    run(sys.executable, "-m", "venv", "--without-pip", path)
    pip(path, "install", "-q", "--disable-pip-version-check", *requirements)
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the wheel and pytest installed, nothing else asked for."""
    root = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root, REPO)
    (wheel,) = root.glob("wan_spark_toolkit-*.whl")
    return make_venv(root / "venv", wheel, "pytest")


def test_the_contract_tools_are_an_extra(venv: Path) -> None:
    listed = pip(venv, "list", "--format=freeze").stdout.lower()
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
    assert "4 passed" in done.stdout, done.stdout[-3000:]
    assert run(venv / "bin" / "spark-mock", "--version").stdout.startswith("spark-mock")


@pytest.fixture(scope="module")
def schemathesis_alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Schemathesis installed on its own, as pipx and uvx users have it: a venv with nothing else."""
    root = tmp_path_factory.mktemp("schemathesis")
    return make_venv(root / "venv", f"schemathesis=={version('schemathesis')}")


def test_schemathesis_on_its_own_finds_nothing_with_all_checks(schemathesis_alone: Path) -> None:
    """From a clone, `schemathesis run` loads the hooks (schemathesis.toml) with only Schemathesis there,
    and against the mock as `make mock` starts it, with a key of the documented form, finds nothing."""
    with launch("--speed", "1000", "--log-level", "warning", program=SPARK_MOCK) as mock:
        done = run(
            schemathesis_alone / "bin" / "schemathesis",
            "run",
            "spec/openapi.yaml",
            "--url",
            mock.url,
            "-H",
            "Authorization: Bearer sk-mr-0123456789abcdef",
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "20261203",
            "--generation-database",
            "none",
            cwd=REPO,
            check=False,
        )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "No issues found" in done.stdout
