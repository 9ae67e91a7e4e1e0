"""Over a real socket, as a user runs it: `spark-mock` (what `make mock` starts), then create -> poll -> download."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from contract_tests.images import data_uri, make_image
from mockserver.launcher import SPARK_MOCK, launch
from mockserver.pytest_plugin import SparkMock
from tests.video_probe import probe

pytestmark = pytest.mark.socket
CREATE_PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console script that `make mock` runs, started the way `make mock SPEED=600` starts it."""
    with launch("--speed", "600", log=tmp_path_factory.mktemp("mock") / "mock.log", program=SPARK_MOCK) as mock:
        yield mock.url
    assert mock.process.returncode == 0, mock.output()[-2000:]


def test_a_whole_cycle_over_http(server: str) -> None:
    auth = {"Authorization": "Bearer sk-mr-socket-test"}
    body = {"prompt": "A black cat looks up at the sky", "image": data_uri(make_image("JPEG", 640, 480), "JPEG")}
    with httpx.Client(base_url=server, timeout=10) as client:
        created = client.post(CREATE_PATH, json=body, headers=auth)
        assert created.status_code == 202, created.text
        assert created.headers["traceparent"].startswith("00-")
        assert "server" not in created.headers  # not `uvicorn`: the live API does not say that
        task_id = created.json()["task_info"]["id"]

        statuses: list[str] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            polled = client.get(f"{CREATE_PATH}/{task_id}", headers=auth)
            assert polled.status_code == 200
            status = polled.json()["task_info"]["status"]
            if not statuses or statuses[-1] != status:
                statuses.append(status)
            if status == "succeeded":
                break
            time.sleep(0.02)
        assert statuses[-1] == "succeeded" and statuses[0] in ("queued", "running")

        video_url = polled.json()["videos"][0]
        assert video_url.startswith(server + "/")
        video = client.get(video_url)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        rendered = probe(video.content)  # made from this request: its image is 4:3, a landscape frame
        assert rendered.problems == [] and (rendered.width, rendered.height, rendered.duration) == (1920, 1080, 5.0)


def test_bad_input_over_http_gets_4xx_not_a_crash(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        auth = {"Authorization": "Bearer sk-mr-k"}
        assert (
            client.post(
                CREATE_PATH, content=b"\xff\xfe{", headers={**auth, "Content-Type": "application/json"}
            ).status_code
            == 400
        )
        assert (
            client.post(
                CREATE_PATH, json={"prompt": "x" * 2001, "image": "https://x.y/z.png"}, headers=auth
            ).status_code
            == 400
        )
        assert client.post(CREATE_PATH, json={}).status_code == 401
        assert client.get("/__mock/health").json()["status"] == "ok"


def test_a_whole_cycle_through_the_plugins_fixture(spark_mock: SparkMock) -> None:
    """The project's own fixture, as users get it: a failure, queued, then a success with its video."""
    body = {"prompt": "A black cat looks up at the sky", "image": "https://example.com/cat.png"}
    spark_mock.queue("fail=3001")
    with httpx.Client(base_url=spark_mock.url, headers=spark_mock.headers, timeout=10) as client:
        failing = client.post(CREATE_PATH, json=body).json()["task_info"]["id"]
        succeeding = client.post(CREATE_PATH, json=body).json()["task_info"]["id"]
        spark_mock.advance(3600)
        assert client.get(f"{CREATE_PATH}/{failing}").json()["task_info"]["error"]["code"] == 3001
        done = client.get(f"{CREATE_PATH}/{succeeding}").json()
        assert probe(client.get(done["videos"][0]).content).duration == 5.0
    assert [entry.status for entry in spark_mock.requests()] == [202, 202, 200, 200]  # the video: under /__mock
    assert [task["phase"] for task in spark_mock.tasks()] == ["failed", "succeeded"]
