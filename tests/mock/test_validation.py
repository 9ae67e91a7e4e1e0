"""Every documented constraint of the create body, at its boundary, through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, SpecCheckedClient, create

MAX_SEED = 2147483647


def body(**fields: Any) -> dict[str, Any]:
    return {**VALID_BODY, **fields}


def assert_rejected(client: SpecCheckedClient, payload: Any, *words: str) -> str:
    """The create is refused with 400 in the API's error shape, and the detail says what broke."""
    response = create(client, payload)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error_code"] == 2001 and error["title"] == "Invalid Request"
    detail: str = error["detail"]
    for word in words:
        assert word in detail, f"{word!r} not in {detail!r}"
    return detail


def assert_accepted(client: SpecCheckedClient, payload: Any) -> None:
    response = create(client, payload)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("field", "limit", "char"),
    [
        ("prompt", 2000, "a"),
        ("prompt", 2000, "猫"),  # multi-byte in UTF-8: the limit counts characters, not bytes
        ("prompt", 2000, "🐈"),  # outside the BMP: still one character (two UTF-16 units in JavaScript)
        ("negative_prompt", 500, "b"),
        ("negative_prompt", 500, "é"),
    ],
)
def test_text_length_limits(client: SpecCheckedClient, field: str, limit: int, char: str) -> None:
    assert_accepted(client, body(**{field: char * limit}))
    detail = assert_rejected(client, body(**{field: char * (limit + 1)}), field, f"at most {limit} characters")
    assert f"got {limit + 1}" in detail


@pytest.mark.parametrize("seed", [0, 1, MAX_SEED])
def test_seed_in_range_is_accepted(client: SpecCheckedClient, seed: int) -> None:
    assert_accepted(client, body(seed=seed))


@pytest.mark.parametrize(("seed", "rule"), [(-1, "at least 0"), (MAX_SEED + 1, f"at most {MAX_SEED}")])
def test_seed_out_of_range_is_rejected(client: SpecCheckedClient, seed: int, rule: str) -> None:
    assert_rejected(client, body(seed=seed), "seed", rule, str(seed))


@pytest.mark.parametrize("duration", [5, 10, 15])
def test_each_documented_duration_is_accepted(client: SpecCheckedClient, duration: int) -> None:
    assert_accepted(client, body(duration=duration))


@pytest.mark.parametrize("duration", [0, 4, 6, 7, 20, -5])
def test_other_durations_are_rejected(client: SpecCheckedClient, duration: int) -> None:
    assert_rejected(client, body(duration=duration), "duration", "one of 5, 10, 15", f"got {duration}")


def test_resolution(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(resolution="1080P"))
    for other in ["720P", "1080p", "480P", ""]:
        assert_rejected(client, body(resolution=other), "resolution", '"1080P"')


@pytest.mark.parametrize("field", ["shot_type", "multi_shots"])
def test_shot_type_and_its_other_spelling(client: SpecCheckedClient, field: str) -> None:
    for value in ["single", "multi", None]:
        assert_accepted(client, body(prompt_extend=True, **{field: value}))
    assert_rejected(client, body(**{field: "triple"}), field, 'one of "single", "multi"', 'got "triple"')


def test_multi_shots_also_takes_the_boolean_an_earlier_cli_sent(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(multi_shots=True))
    assert_accepted(client, body(multi_shots=False))
    journal = client.get("/__mock/requests?limit=2").json()["requests"]
    assert [entry["notes"]["shot_type"] for entry in journal] == ["multi", "single"]


def test_shot_type_wins_when_both_spellings_are_sent(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(shot_type="single", multi_shots="multi"))
    entry = client.get("/__mock/requests?limit=1").json()["requests"][0]
    assert entry["notes"]["shot_type"] == "single"


def test_audio_and_audio_url(client: SpecCheckedClient) -> None:
    for value in [True, False, None]:
        assert_accepted(client, body(audio=value))
    for url in ["https://example.com/a.mp3", "http://example.com/a.wav", None]:
        assert_accepted(client, body(audio_url=url))
    assert_rejected(client, body(audio="yes"), "audio", "boolean or null")
    assert_rejected(client, body(audio_url="not a uri"), "audio_url", "valid uri")


def test_prompt_extend_and_last_frame(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(prompt_extend=False, last_frame="https://example.com/end.jpg"))
    assert_rejected(client, body(prompt_extend="true"), "prompt_extend", "must be boolean")
    assert_rejected(client, body(last_frame="ftp://example.com/end.jpg"), "last_frame: is not an http(s) URL")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("prompt", 5, "must be string (got integer)"),
        ("prompt", None, "must be string (got null)"),
        ("prompt", ["a"], "must be string (got array)"),
        ("image", {"url": "https://x"}, "must be string (got object)"),
        ("negative_prompt", False, "must be string (got boolean)"),
        ("duration", "5", "must be integer (got string)"),
        ("duration", True, "must be integer (got boolean)"),
        ("duration", 5.5, "must be integer (got number)"),
        ("seed", 1.5, "must be integer (got number)"),
        ("seed", "42", "must be integer (got string)"),
        ("resolution", 1080, "must be string (got integer)"),
        ("shot_type", 1, "must be string or null (got integer)"),
        ("multi_shots", 1, "must be string or boolean or null (got integer)"),
        ("audio_url", 3, "must be string or null (got integer)"),
    ],
)
def test_wrong_json_types(client: SpecCheckedClient, field: str, value: Any, expected: str) -> None:
    assert_rejected(client, body(**{field: value}), f"{field}: {expected}")


def test_an_integral_float_is_an_integer_in_json_schema(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(duration=10.0, seed=7.0))


@pytest.mark.parametrize("missing", ["prompt", "image"])
def test_required_fields(client: SpecCheckedClient, missing: str) -> None:
    payload = dict(VALID_BODY)
    del payload[missing]
    assert_rejected(client, payload, f"{missing}: is required")


def test_all_violations_are_reported_together(client: SpecCheckedClient) -> None:
    detail = assert_rejected(client, {"prompt": "x" * 2001, "seed": -1, "duration": 7})
    assert detail.split("; ") == [
        "duration: must be one of 5, 10, 15 (got 7)",
        "image: is required",
        "prompt: must be at most 2000 characters (got 2001)",
        "seed: must be at least 0 (got -1)",
    ]


def test_unknown_fields_are_ignored(client: SpecCheckedClient) -> None:
    assert_accepted(client, body(safety_filter=True, watermark=False))


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"5", b"null", b"true", b'[{"prompt": "a"}]'])
def test_the_body_must_be_an_object(client: SpecCheckedClient, raw: bytes) -> None:
    response = client.post(CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body: must be a JSON object (got ")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{bad json", "Malformed JSON at line 1"),
        (b'{"prompt": "a", "image": "https://x.y"', "Malformed JSON"),
        (b'{"prompt": "a", "image": "https://x.y", "seed": NaN}', "NaN is not valid JSON"),
        (b'{"prompt": "a", "image": "https://x.y", "seed": Infinity}', "Infinity is not valid JSON"),
        (b'{"prompt": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "Malformed JSON"),
    ],
)
def test_malformed_bodies_get_a_clear_400(client: SpecCheckedClient, raw: bytes, words: str) -> None:
    response = client.post(CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_the_body_must_be_json(client: SpecCheckedClient, content_type: str | None) -> None:
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(CREATE_PATH, content=b'{"prompt": "a"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["detail"].startswith("Content-Type must be application/json")


def test_json_with_a_charset_is_json(client: SpecCheckedClient) -> None:
    import json

    response = client.post(
        CREATE_PATH,
        content=json.dumps(VALID_BODY).encode(),
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202


def test_a_body_over_the_limit_gets_413(make_client: Any) -> None:
    from mockserver import Settings

    client = make_client(Settings(max_body_bytes=1000))
    response = create(client, body(prompt="x" * 1000))
    assert response.status_code == 413
    assert response.json() == {
        "error_code": 413,
        "title": "Payload Too Large",
        "detail": "The request body is larger than 1000 bytes",
    }


def test_a_streamed_body_over_the_limit_gets_413_without_a_content_length(make_client: Any) -> None:
    from mockserver import Settings

    client = make_client(Settings(max_body_bytes=1000))

    def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 100

    response = client.post(CREATE_PATH, content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
