"""The pytest plugin as a user meets it: the README's example suite, run by pytest in a directory of
its own, with nothing but the installed package (the plugin comes from the ``pytest11`` entry point)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.socket


def readme_files() -> dict[str, str]:
    """The README's example application and its test file, by the file name their first line gives."""
    section = (REPO / "README.md").read_text().split("## In your own tests", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return {block.splitlines()[0].removeprefix("# ").strip(): block for block in blocks}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # A process of its own, as a user's suite is: no configuration of ours applies.
    return pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", *args, timeout=120)


def test_the_readme_example_and_the_fixtures_controls(pytester: pytest.Pytester) -> None:
    """One run of pytest, as a user's suite: the README's example passes under ``-W error``, each test
    starts from an empty mock, a refused outcome says why, and a failed test's report says what the
    mock received, without the keys."""
    files = readme_files()
    assert set(files) == {"app.py", "test_app.py", "test_webhooks.py"}
    pytester.makepyfile(
        **{name.removesuffix(".py"): text for name, text in files.items()},
        test_order="""
        import httpx

        PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"

        def test_first(spark_mock):
            spark_mock.queue("status=500", "status=500")
            spark_mock.advance(60)
            created = httpx.post(spark_mock.url + PATH, headers=spark_mock.headers,
                                 json={"prompt": "a", "image": "https://example.com/a.png"})
            assert created.status_code == 500

        def test_second(spark_mock):
            assert spark_mock.requests() == [] and spark_mock.tasks() == []
            created = httpx.post(spark_mock.url + PATH, headers=spark_mock.headers,
                                 json={"prompt": "a", "image": "https://example.com/a.png"})
            assert created.status_code == 202  # the second queued 500 went with the reset
            (task,) = spark_mock.tasks()
            assert task["age_seconds"] < 30  # the clock is back to real time
        """,
        test_refused="""
        import pytest

        @pytest.mark.parametrize("fixture", ["spark_mock", "spark_mock_asgi"])
        def test_refused(fixture, request):
            mock = request.getfixturevalue(fixture)
            with pytest.raises(ValueError, match="fail=9"):
                mock.queue("succeed", "fail=9")
            assert mock.tasks() == []
        """,
        test_fails="""
        import asyncio

        import httpx
        import pytest

        PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
        BODY = {"prompt": "a secret plan", "image": "https://example.com/a.png", "duration": 7}

        async def send(mock):
            transport = getattr(mock, "transport", None) or httpx.AsyncHTTPTransport()
            async with httpx.AsyncClient(transport=transport, base_url=mock.url) as client:
                await client.post(PATH, headers={"Authorization": "Bearer sk-mr-wrong"}, json=BODY)
                return await client.post(PATH, headers=mock.headers, json=BODY)

        @pytest.mark.parametrize("fixture", ["spark_mock", "spark_mock_asgi"])
        def test_a_duration_the_api_lacks(fixture, request):
            assert asyncio.run(send(request.getfixturevalue(fixture))).status_code == 202
        """,
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(passed=8, failed=2)
    result.stdout.fnmatch_lines(
        [
            "PASSED test_app.py::test_a_task_ends_with_a_video",
            "PASSED test_app.py::test_a_rate_limit_is_passed_on",
            "PASSED test_app.py::test_in_process[asyncio]",
            "PASSED test_webhooks.py::test_a_finished_task_is_announced",
        ],
        consecutive=False,
    )
    sections = result.stdout.str().split("what spark-mock received")[1:]
    assert len(sections) == 2  # one per failed test, the socket mock's and the in-process one's
    for section in sections:
        lines = section.splitlines()[1:4]
        assert lines[0] == "POST /vendors/mulerouter/v1/wan2.6-i2v-spark/generation -> 401", section[:500]
        assert lines[1].startswith("POST /vendors/mulerouter/v1/wan2.6-i2v-spark/generation -> 400  body: {")
        assert "'duration': 7" in lines[1]
    assert "sk-mr-wrong" not in result.stdout.str()  # the keys are redacted there


def test_settings_come_from_the_settings_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def spark_mock_settings():
            return {"MOCK_VOCABULARY": "legacy"}
        """
    )
    pytester.makepyfile(
        test_legacy="""
        import httpx

        PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
        BODY = {"prompt": "a", "image": "https://example.com/a.png"}

        def test_socket(spark_mock):
            created = httpx.post(spark_mock.url + PATH, headers=spark_mock.headers, json=BODY)
            assert created.json()["task_info"]["status"] == "pending"

        def test_in_process(spark_mock_asgi):
            import asyncio
            async def send():
                async with httpx.AsyncClient(transport=spark_mock_asgi.transport, base_url=spark_mock_asgi.url) as c:
                    return await c.post(PATH, headers=spark_mock_asgi.headers, json=BODY)
            assert asyncio.run(send()).json()["task_info"]["status"] == "pending"
        """
    )
    run(pytester).assert_outcomes(passed=2)
