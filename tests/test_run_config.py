"""The contract run and the live run read their numbers the same way, each failing with its own error."""

from __future__ import annotations

import pytest

from contract_tests.config import ConfigError, RunConfig
from contract_tests.live.config import LiveConfig, LiveConfigError


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAX_TASKS": "many"}, "MAX_TASKS='many' is not a number"),
        ({"MAX_TASKS": "-1"}, "MAX_TASKS must be at least 0"),
        ({"TASK_TIMEOUT": "0"}, "TASK_TIMEOUT must be at least 0.1"),
        ({"POLL_INTERVAL": "nan"}, "POLL_INTERVAL must be at least 0.0"),
    ],
)
def test_a_contract_run_names_the_setting_it_cannot_use(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_env(environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RATE": "fast"}, "RATE='fast' is not a number"),
        ({"RATE": "0"}, "RATE must be at least 0.01"),
        ({"ALLOW_TASKS": "inf"}, "ALLOW_TASKS='inf' is not a number"),
        ({"MAX_RETRIES": "-2"}, "MAX_RETRIES must be at least 0"),
    ],
)
def test_a_live_run_names_the_setting_it_cannot_use(environ: dict[str, str], message: str) -> None:
    with pytest.raises(LiveConfigError, match=message):
        LiveConfig.from_env({"DRY_RUN": "1", **environ})


def test_unset_and_empty_mean_the_default() -> None:
    assert RunConfig.from_env({"TASK_TIMEOUT": ""}).task_timeout == RunConfig.from_env({}).task_timeout == 900.0
    assert LiveConfig.from_env({"DRY_RUN": "1", "RATE": ""}).rate == 2.0
