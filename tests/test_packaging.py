"""`pip install` users get the spec and the video too: the wheel carries them, and the mock finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("wan_spark_toolkit-*.whl")
    return built


def test_the_wheel_carries_the_spec_the_video_and_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("sparkspec/_bundled/openapi.yaml") == (REPO / "spec" / "openapi.yaml").read_bytes()
        assert archive.read("sparkspec/_bundled/result_00.mp4") == (REPO / "fixtures/video/result_00.mp4").read_bytes()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "spark-mock = mockserver.spark_mock:main" in archive.read(entry_points).decode()
    assert "contract_tests/images.py" in names


def test_an_installed_copy_serves_from_its_bundled_files(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    probe = (
        "from starlette.testclient import TestClient\n"
        "from mockserver import create_app\n"
        "from sparkspec.resources import spec_path, video_path\n"
        "print(spec_path()); print(video_path())\n"
        "client = TestClient(create_app())\n"
        "r = client.post('/vendors/mulerouter/v1/wan2.6-i2v-spark/generation',"
        " json={'prompt': 'a', 'image': 'https://x.y/z.png'}, headers={'Authorization': 'Bearer sk-mr-k'})\n"
        "print(r.status_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    spec, video, status = done.stdout.split()
    assert spec == str(tmp_path / "site/sparkspec/_bundled/openapi.yaml")
    assert video == str(tmp_path / "site/sparkspec/_bundled/result_00.mp4")
    assert status == "202"
