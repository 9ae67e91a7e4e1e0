"""Where the docs are silent, the mock keeps one reading by default and a setting switches to the other.

Each setting is tried both ways through the mock's HTTP API: ``nulls`` (a null in an optional
field), ``shot_field`` (which spelling of the shot type is read) and ``image_checks`` (whether a
Base64 image must be a complete file).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from contract_tests.images import data_uri, make_image, truncate
from mockserver import Settings, create_app
from mockserver.settings import SettingsError
from sparkspec.openapi import ApiSpec, SpecError
from tests.helpers import VALID_BODY, ClientFactory, SpecCheckedClient, create

TRUNCATED = (400, "image: is a corrupt or truncated image")


def body(**fields: Any) -> dict[str, Any]:
    return {**VALID_BODY, **fields}


def send(client: SpecCheckedClient, payload: dict[str, Any]) -> tuple[int, str]:
    response = create(client, payload)
    return response.status_code, response.json().get("detail", "") if response.status_code != 202 else ""


def last_shot_type(client: SpecCheckedClient) -> Any:
    """The shot type the journal noted for the latest create."""
    return client.get("/__mock/requests?limit=1").json()["requests"][0]["notes"]["shot_type"]


# nulls


def test_a_null_in_an_optional_field_that_does_not_allow_it_is_refused_by_default(client: SpecCheckedClient) -> None:
    assert send(client, body(negative_prompt=None)) == (400, "negative_prompt: must be string (got null)")
    assert send(client, body(prompt=None)) == (400, "prompt: must be string (got null)")


def test_with_nulls_absent_a_null_in_an_optional_field_is_as_if_not_sent(make_client: ClientFactory) -> None:
    client = make_client(Settings(nulls="absent"))
    assert send(client, body(negative_prompt=None)) == (202, "")
    assert send(client, body(duration=None, seed=None, resolution=None, prompt_extend=None)) == (202, "")
    task = client.get("/__mock/tasks?limit=1").json()["tasks"][0]
    assert task["video_seconds"] == 5  # the spec's default duration


def test_with_nulls_absent_a_null_in_a_required_field_is_still_refused(make_client: ClientFactory) -> None:
    """Only fields that are not required lose their null: a required one keeps it, for its schema to judge."""
    client = make_client(Settings(nulls="absent"))
    assert send(client, body(prompt=None)) == (400, "prompt: must be string (got null)")
    assert send(client, {"prompt": "a cat", "image": None})[0] == 400


def test_with_nulls_absent_a_null_that_the_schema_allows_takes_the_default(make_client: ClientFactory) -> None:
    refusing, absent = make_client(), make_client(Settings(nulls="absent"))
    assert send(refusing, body(shot_type=None)) == (202, "")
    assert last_shot_type(refusing) is None
    assert send(absent, body(shot_type=None)) == (202, "")
    assert last_shot_type(absent) == "single"


def test_with_nulls_absent_the_journal_keeps_the_body_as_sent(make_client: ClientFactory) -> None:
    client = make_client(Settings(nulls="absent"))
    assert send(client, body(negative_prompt=None)) == (202, "")
    entry = client.get("/__mock/requests?limit=1").json()["requests"][0]
    assert entry["body"]["negative_prompt"] is None


# shot_field


def test_by_default_both_spellings_are_validated(client: SpecCheckedClient) -> None:
    for field in ["shot_type", "multi_shots"]:
        status, detail = send(client, body(**{field: "triple"}))
        assert status == 400 and detail.startswith(f"{field}: must be one of"), detail


@pytest.mark.parametrize(("honoured", "ignored"), [("shot_type", "multi_shots"), ("multi_shots", "shot_type")])
def test_with_one_shot_field_the_other_is_an_unknown_field(
    make_client: ClientFactory, honoured: str, ignored: str
) -> None:
    client = make_client(Settings(shot_field=honoured))  # type: ignore[arg-type]
    for anything in ["triple", 7, {"a": 1}, "multi"]:
        assert send(client, body(prompt_extend=True, **{ignored: anything})) == (202, "")
        assert last_shot_type(client) == "single"  # the default of the honoured field: the other says nothing
    status, detail = send(client, body(**{honoured: "triple"}))
    assert status == 400 and detail.startswith(f"{honoured}: must be one of"), detail


@pytest.mark.parametrize(
    ("shot_field", "fields", "noted"),
    [
        ("both", {"shot_type": "single", "multi_shots": "multi"}, "single"),
        ("both", {"multi_shots": True}, "multi"),
        ("shot_type", {"shot_type": "multi", "multi_shots": "single"}, "multi"),
        ("shot_type", {"multi_shots": "multi"}, "single"),
        ("multi_shots", {"shot_type": "single", "multi_shots": "multi"}, "multi"),
        ("multi_shots", {"shot_type": "multi", "multi_shots": False}, "single"),
        ("multi_shots", {"multi_shots": True}, "multi"),
        ("multi_shots", {"shot_type": "multi"}, "single"),
    ],
)
def test_the_journal_notes_the_shot_type_the_setting_honours(
    make_client: ClientFactory, shot_field: str, fields: dict[str, Any], noted: str
) -> None:
    client = make_client(Settings(shot_field=shot_field))  # type: ignore[arg-type]
    assert send(client, body(prompt_extend=True, **fields)) == (202, "")
    assert last_shot_type(client) == noted


@pytest.mark.parametrize(
    ("shot_field", "served"), [("both", {"shot_type", "multi_shots"}), ("multi_shots", {"multi_shots"})]
)
def test_the_served_spec_is_the_one_the_mock_validates(
    make_client: ClientFactory, shot_field: str, served: set[str]
) -> None:
    client = make_client(Settings(shot_field=shot_field))  # type: ignore[arg-type]
    document = client.get("/__mock/openapi.json").json()
    properties = set(document["components"]["schemas"]["GenerationRequest"]["properties"])
    assert properties & {"shot_type", "multi_shots"} == served


def test_choosing_a_shot_field_leaves_the_given_spec_untouched(spec: ApiSpec) -> None:
    before = copy.deepcopy(spec.document)
    create_app(Settings(shot_field="shot_type"), spec=spec)
    assert spec.document == before


def test_a_shot_field_needs_a_spec_that_ignores_unknown_fields(spec: ApiSpec) -> None:
    document = copy.deepcopy(dict(spec.document))
    document["components"]["schemas"]["GenerationRequest"]["additionalProperties"] = False
    closed = ApiSpec(document)
    create_app(Settings(), spec=closed)  # both spellings honoured: nothing to ignore
    with pytest.raises(SpecError, match="ignore unknown fields"):
        create_app(Settings(shot_field="shot_type"), spec=closed)


# image_checks


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_is_refused_by_default_and_accepted_with_header_checks(
    make_client: ClientFactory, fmt: str
) -> None:
    damaged = data_uri(truncate(make_image(fmt, 800, 600)), fmt)
    assert send(make_client(), body(image=damaged)) == TRUNCATED
    assert send(make_client(Settings(image_checks="header")), body(image=damaged, last_frame=damaged)) == (202, "")


def test_with_header_checks_the_header_rules_still_hold(make_client: ClientFactory) -> None:
    client = make_client(Settings(image_checks="header"))
    small = data_uri(truncate(make_image("PNG", 359, 400)))
    assert send(client, body(image=small)) == (400, "image: is 359x400 px; both sides must be 360 to 2000 px")
    translucent = data_uri(make_image("PNG", 400, 400, transparency="alpha"))
    assert send(client, body(image=translucent)) == (400, "image: is a PNG with transparency, which is not supported")


# the settings themselves


def test_the_readings_default_to_the_contracts() -> None:
    settings = Settings.from_env({})
    assert (settings.nulls, settings.shot_field, settings.image_checks) == ("refuse", "both", "full")


def test_the_readings_come_from_mock_variables() -> None:
    settings = Settings.from_env(
        {"MOCK_NULLS": "absent", "MOCK_SHOT_FIELD": "multi_shots", "MOCK_IMAGE_CHECKS": "header"}
    )
    assert (settings.nulls, settings.shot_field, settings.image_checks) == ("absent", "multi_shots", "header")
    assert Settings.from_env({"MOCK_SHOT_FIELD": " shot_type "}).shot_field == "shot_type"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MOCK_NULLS", "ignore", "nulls must be one of refuse, absent; got 'ignore'"),
        ("MOCK_SHOT_FIELD", "shot", "shot_field must be one of both, shot_type, multi_shots; got 'shot'"),
        ("MOCK_IMAGE_CHECKS", "none", "image_checks must be one of full, header; got 'none'"),
    ],
)
def test_a_bad_reading_fails_loudly_and_names_the_setting(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({variable: value})


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(nulls="absent", shot_field="shot_type", image_checks="header"),
        Settings(shot_field="multi_shots"),
    ],
)
def test_the_readings_reach_a_worker_process(settings: Settings) -> None:
    """``to_env`` is how ``spark-mock --workers N`` hands the settings to each worker."""
    env = settings.to_env()
    readings = (env["MOCK_NULLS"], env["MOCK_SHOT_FIELD"], env["MOCK_IMAGE_CHECKS"])
    assert readings == (settings.nulls, settings.shot_field, settings.image_checks)
    assert Settings.from_env(env) == settings
