"""Settings come from MOCK_* variables in one place, and bad values fail loudly."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import mockserver
from mockserver import Settings, create_app
from mockserver.settings import SettingsError
from mockserver.spark_mock import main


def test_the_public_surface_is_small() -> None:
    """Build the app (with its settings, and a clock tests can move), or run it as a process, and receive
    its webhooks: no more."""
    assert mockserver.__all__ == [
        "ManualClock",
        "MockProcess",
        "Settings",
        "SettingsError",
        "WebhookReceiver",
        "create_app",
        "launch",
    ]


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "MOCK_PORT": "9001",
            "MOCK_SPEED": "600",
            "MOCK_VOCABULARY": "legacy",
            "MOCK_ERROR_PLACEMENT": "top_level",
            "MOCK_TIMESTAMPS": "micro",
            "MOCK_API_KEYS": "sk-a, sk-b,",
            "MOCK_SCENARIO": "fail=3001",
            "MOCK_SEED": "4",
            "MOCK_JOURNAL_SIZE": "10",
            "UNRELATED": "x",
        }
    )
    assert (settings.port, settings.speed, settings.vocabulary) == (9001, 600.0, "legacy")
    assert settings.api_keys == frozenset({"sk-a", "sk-b"})
    assert (settings.error_placement, settings.timestamps, settings.seed) == ("top_level", "micro", 4)
    assert Settings.from_env({"MOCK_PORT": "9001"}, port=9002).port == 9002  # options win


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MOCK_PORT": "eighty"}, "MOCK_PORT='eighty' is not a valid port"),
        ({"MOCK_PORT": "70000"}, "port must be between 0 and 65535"),
        ({"MOCK_SPEED": "0"}, "speed must be a positive number"),
        ({"MOCK_SPEED": "nan"}, "speed must be a positive number"),
        ({"MOCK_SPEED": "1e-310"}, "speed must be a positive number from 0.001 to 1e+06"),
        ({"MOCK_LOG_LEVEL": "bogus"}, "log_level must be one of critical, error, warning, info, debug, trace"),
        ({"MOCK_SPEED": "fast"}, "is not a valid speed"),
        ({"MOCK_ERROR_PLACEMENT": "nowhere"}, "error_placement must be one of task_info, top_level"),
        ({"MOCK_TIMESTAMPS": "nanos"}, "timestamps must be one of seconds, micro"),
        ({"MOCK_JOURNAL_SIZE": "0"}, "journal_size must be at least 1"),
        ({"MOCK_PUBLIC_URL": "ftp://x"}, "public_url must be an http(s) URL"),
        ({"MOCK_NULLS": "drop"}, "nulls must be one of refuse, absent"),
        ({"MOCK_SHOT_FIELD": "either"}, "shot_field must be one of both, shot_type, multi_shots"),
        ({"MOCK_IMAGE_CHECKS": "off"}, "image_checks must be one of full, header"),
        ({"MOCK_READ_TIMEOUT": "0"}, "read_timeout must be a number of seconds above 0"),
        ({"MOCK_READ_TIMEOUT": "nan"}, "read_timeout must be a number of seconds above 0"),
        ({"MOCK_VIDEO": "none"}, "video must be one of rendered, fixed"),
        ({"MOCK_VIDEO_CACHE": "0"}, "video_cache must be between 1 and 100000, got 0"),
        ({"MOCK_VIDEO_CACHE": "ten"}, "MOCK_VIDEO_CACHE='ten' is not a valid video_cache"),
    ],
)
def test_bad_values_fail_loudly(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


def test_a_key_that_is_not_a_bearer_token_fails_loudly() -> None:
    with pytest.raises(SettingsError, match=re.escape("api_keys must be bearer tokens")):
        create_app(Settings.from_env({"MOCK_API_KEYS": "sk-a,k@y"}))


def test_every_setting_reaches_a_worker_process(tmp_path: Path) -> None:
    """``to_env`` rebuilds each field, every one away from its default, in a worker."""
    settings = Settings(
        host="0.0.0.0",
        port=9003,
        speed=2.5,
        vocabulary="legacy",
        error_placement="top_level",
        timestamps="micro",
        api_keys=frozenset({"sk-a", "sk-b"}),
        scenario="fail=3001",
        latency="create=0.5,poll=0.1-0.3",
        journal_size=7,
        max_tasks=8,
        max_body_bytes=9,
        read_timeout=4.5,
        public_url="https://mock.example",
        seed=5,
        log_level="debug",
        state_file=tmp_path / "state.sqlite",
        workers=3,
        nulls="absent",
        shot_field="multi_shots",
        image_checks="header",
        video="fixed",
        video_cache=7,
        webhook_urls=("http://127.0.0.1:9/a", "https://hooks.example/b?x=1"),
        webhook_secret="whsec_QUJD",
        webhook_signature_encoding="base64",
        webhook_key="after-prefix-base64",
        webhook_retries=1,
        webhook_backoff=0.5,
        webhook_timeout=2.5,
        webhook_log_size=9,
    )
    defaults = Settings()
    assert all(getattr(settings, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(Settings))
    assert Settings.from_env(settings.to_env()) == settings


def test_the_webhook_readings_are_left_to_the_spec_unless_their_variables_name_one() -> None:
    """``None`` is the spec's reading (``x-webhook-signature``), resolved by create_app; a worker is handed
    no value for it, and so reads the spec too."""
    assert (Settings().webhook_signature_encoding, Settings().webhook_key) == (None, None)
    assert not {"MOCK_WEBHOOK_SIGNATURE_ENCODING", "MOCK_WEBHOOK_KEY"} & set(Settings().to_env())
    named = Settings.from_env({"MOCK_WEBHOOK_SIGNATURE_ENCODING": "base64", "MOCK_WEBHOOK_KEY": "after-prefix"})
    assert (named.webhook_signature_encoding, named.webhook_key) == ("base64", "after-prefix")


def test_how_many_webhook_urls_and_how_long_is_the_spec_s_to_say_when_the_app_is_built() -> None:
    secret = "whsec_" + "ab" * 16
    six = Settings(webhook_urls=tuple(f"https://hooks.example/{n}" for n in range(6)), webhook_secret=secret)
    with pytest.raises(SettingsError, match=re.escape("webhook_urls: at most 5 endpoints")):
        create_app(six)
    long = Settings(webhook_urls=("https://hooks.example/" + "a" * 2048,), webhook_secret=secret)
    with pytest.raises(SettingsError, match=re.escape("webhook_urls: a webhook URL has at most 2048 characters")):
        create_app(long)


def test_an_unknown_vocabulary_is_refused_against_the_spec() -> None:
    with pytest.raises(SettingsError, match="vocabulary must be one of guide, legacy"):
        create_app(Settings(vocabulary="shouty"))


def test_api_keys_never_show_in_the_settings_repr() -> None:
    assert "sk-secret" not in repr(Settings(api_keys=frozenset({"sk-secret"})))


def test_the_cli_exits_2_on_a_bad_setting(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MOCK_SPEED", "-3")
    assert main([]) == 2
    assert "speed must be a positive number" in capsys.readouterr().err
    monkeypatch.delenv("MOCK_SPEED")
    assert main(["--scenario", "fail=12"]) == 2
    assert "not a documented task error code" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "logged"), [("info", True), ("debug", True), ("warning", False), ("error", False)])
def test_the_cli_keeps_an_access_log_only_where_its_level_prints_it(
    monkeypatch: pytest.MonkeyPatch, level: str, logged: bool
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("mockserver.spark_mock.uvicorn.run", lambda app, **options: served.update(options))
    assert main(["--log-level", level, "--port", "8999"]) == 0
    assert served["access_log"] is logged
    assert served["log_level"] == level
