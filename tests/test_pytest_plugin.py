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


def test_the_readme_example_passes_under_w_error(pytester: pytest.Pytester) -> None:
    files = readme_files()
    assert set(files) == {"app.py", "test_app.py"}
    pytester.makepyfile(**{name.removesuffix(".py"): text for name, text in files.items()})
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_each_test_starts_from_an_empty_mock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
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
        """
    )
    run(pytester).assert_outcomes(passed=2)


@pytest.mark.parametrize("fixture", ["spark_mock", "spark_mock_asgi"])
def test_a_failure_says_what_the_mock_received(pytester: pytest.Pytester, fixture: str) -> None:
    pytester.makepyfile(
        test_fails=f"""
        import asyncio

        import httpx

        PATH = "/vendors/mulerouter/v1/wan2.6-i2v-spark/generation"
        BODY = {{"prompt": "a secret plan", "image": "https://example.com/a.png", "duration": 7}}

        async def send(mock):
            transport = getattr(mock, "transport", None) or httpx.AsyncHTTPTransport()
            async with httpx.AsyncClient(transport=transport, base_url=mock.url) as client:
                await client.post(PATH, headers={{"Authorization": "Bearer sk-mr-wrong"}}, json=BODY)
                return await client.post(PATH, headers=mock.headers, json=BODY)

        def test_a_duration_the_api_lacks({fixture}):
            assert asyncio.run(send({fixture})).status_code == 202
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*what spark-mock received*",
            "POST /vendors/mulerouter/v1/wan2.6-i2v-spark/generation -> 401",
            "POST /vendors/mulerouter/v1/wan2.6-i2v-spark/generation -> 400  body: {*'duration': 7*",
        ]
    )
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


def test_a_refused_outcome_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_refused="""
        import pytest

        @pytest.mark.parametrize("fixture", ["spark_mock", "spark_mock_asgi"])
        def test_refused(fixture, request):
            mock = request.getfixturevalue(fixture)
            with pytest.raises(ValueError, match="fail=9"):
                mock.queue("succeed", "fail=9")
            assert mock.tasks() == []
        """
    )
    run(pytester).assert_outcomes(passed=2)
