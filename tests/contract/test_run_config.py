"""The contract run and the live run read their numbers the same way, each failing with its own error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contract_tests.config import ConfigError, RunConfig
from contract_tests.live.config import LiveConfig, LiveConfigError

CONTRACT = (RunConfig.from_env, ConfigError)
LIVE = (LiveConfig.from_env, LiveConfigError)


@pytest.mark.parametrize(
    ("run", "environ", "message"),
    [
        (CONTRACT, {"MAX_TASKS": "many"}, "MAX_TASKS='many' is not a number"),
        (CONTRACT, {"MAX_TASKS": "-1"}, "MAX_TASKS must be at least 0"),
        (CONTRACT, {"TASK_TIMEOUT": "0"}, "TASK_TIMEOUT must be at least 0.1"),
        (CONTRACT, {"POLL_INTERVAL": "nan"}, "POLL_INTERVAL must be at least 0.0"),
        (LIVE, {"RATE": "fast"}, "RATE='fast' is not a number"),
        (LIVE, {"RATE": "0"}, "RATE must be at least 0.01"),
        (LIVE, {"ALLOW_TASKS": "inf"}, "ALLOW_TASKS='inf' is not a number"),
        (LIVE, {"MAX_RETRIES": "-2"}, "MAX_RETRIES must be at least 0"),
    ],
)
def test_each_run_names_the_setting_it_cannot_use_with_its_own_error(
    run: tuple[Callable[[dict[str, str]], object], type[Exception]], environ: dict[str, str], message: str
) -> None:
    read, error = run
    with pytest.raises(error, match=message):
        read({"DRY_RUN": "1", **environ})  # DRY_RUN lets the live run start without a key; the contract run ignores it


def test_unset_and_empty_mean_the_default() -> None:
    assert RunConfig.from_env({"TASK_TIMEOUT": ""}).task_timeout == RunConfig.from_env({}).task_timeout == 900.0
    assert LiveConfig.from_env({"DRY_RUN": "1", "RATE": ""}).rate == 2.0
