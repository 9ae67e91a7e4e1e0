"""Regressions from review: inputs that once made the mock answer 5xx, leak a key, or misbehave."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mockserver import Settings, create_app
from sparkspec.openapi import ApiSpec, SpecError
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, ClientFactory, SpecCheckedClient, create, create_ok, poll_path

KEY = "sk-mr-0123456789abcdef0123"


@pytest.mark.parametrize("field", ["prompt", "resolution", "audio_url", "negative_prompt"])
def test_a_lone_surrogate_is_a_400_and_the_journal_still_works(client: SpecCheckedClient, field: str) -> None:
    raw = json.dumps({**VALID_BODY, field: "x"}).replace('"x"', '"\\ud800"').encode()
    response = client.post(CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "lone UTF-16 surrogate" in response.json()["detail"]
    assert client.get("/__mock/requests").status_code == 200


def test_a_surrogate_pair_is_fine(client: SpecCheckedClient) -> None:
    raw = json.dumps({**VALID_BODY, "prompt": "cat \U0001f408"}, ensure_ascii=True).encode()
    assert "\\ud83d\\udc08" in raw.decode()
    response = client.post(CREATE_PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "how",
    [
        {"headers": {"Authorization": f"{KEY} Bearer"}},
        {"headers": {"Authorization": f"Bearer,{KEY} x"}},
        {"headers": {**AUTH, "X-Auth-Token": KEY}},
        {"headers": {**AUTH, "X-MuleRouter-Api-Key": KEY}},
        {"headers": {**AUTH, "X-Forwarded-For": KEY}},
        {"headers": AUTH, "params": {"api_key": KEY}},
        {"headers": AUTH, "body": {**VALID_BODY, "note": f"my key is {KEY}"}},
        {"headers": {"Authorization": f"Bearer {KEY}"}, "path": f"{CREATE_PATH}/{KEY}"},
    ],
)
def test_the_key_never_reaches_the_journal(make_client: ClientFactory, how: dict[str, Any]) -> None:
    client = make_client(Settings(api_keys=frozenset({KEY})))
    path = how.get("path", CREATE_PATH)
    client.post(path, json=how.get("body", VALID_BODY), headers=how["headers"], params=how.get("params"))
    journal = client.get("/__mock/requests").text
    assert KEY not in journal
    assert "<redacted>" in journal


def test_the_bearer_token_is_scrubbed_even_when_keys_are_not_configured(client: SpecCheckedClient) -> None:
    token = "sk-mr-unconfigured-token-42"
    client.post(CREATE_PATH, json={**VALID_BODY, "prompt": token}, headers={"Authorization": f"Bearer {token}"})
    assert token not in client.get("/__mock/requests").text


def test_queue_times_spread_over_their_whole_range(client: SpecCheckedClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    queues = [store.get(create_ok(client)).queue_seconds for _ in range(150)]
    assert min(queues) < 4 and max(queues) > 13  # the documented 2-15 s, not a narrow band


def test_the_clock_stops_short_of_the_year_10000(client: SpecCheckedClient) -> None:
    for _ in range(900):
        response = client.post("/__mock/clock/advance", json={"seconds": 315360000})
        if response.status_code == 400:
            assert "year 9999" in response.json()["detail"]
            break
    else:
        raise AssertionError("the clock never refused")
    assert create(client).status_code == 202
    assert client.get("/__mock/clock").status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b'{"seconds": 1' + b"0" * 400 + b"}", b"[" * 100_000, b'{"seconds": 1e999}', b'{"seconds": 5}' + b" " * 70_000],
)
def test_advance_refuses_bad_bodies_with_400(client: SpecCheckedClient, raw: bytes) -> None:
    assert client.post("/__mock/clock/advance", content=raw).status_code == 400


def test_an_image_url_is_bounded_by_the_spec(client: SpecCheckedClient, spec: ApiSpec) -> None:
    limit = spec.schemas_with_extension("x-image-rules")["ImageInput"]["x-image-rules"]["max-url-length"]
    base = "https://example.com/"
    assert create(client, {**VALID_BODY, "image": base + "a" * (limit - len(base))}).status_code == 202
    answer = create(client, {**VALID_BODY, "image": base + "a" * 5_000_000})
    assert answer.status_code == 400 and f"the limit is {limit}" in answer.json()["detail"]


def test_audio_url_length_is_bounded_by_the_spec(client: SpecCheckedClient, spec: ApiSpec) -> None:
    limit = spec.request_schema("createGeneration")["properties"]["audio_url"]["maxLength"]
    base = "https://example.com/"
    assert create(client, {**VALID_BODY, "audio_url": base + "a" * (limit - len(base))}).status_code == 202
    response = create(client, {**VALID_BODY, "audio_url": base + "a" * (limit - len(base) + 1)})
    assert response.status_code == 400 and f"at most {limit} characters" in response.json()["detail"]


def test_trailing_slashes_are_not_redirected(client: SpecCheckedClient) -> None:
    response = client.post(CREATE_PATH + "/", json=VALID_BODY, headers=AUTH, follow_redirects=False)
    assert response.status_code == 404
    task_id = create_ok(client)
    assert client.get(poll_path(task_id) + "/", headers=AUTH, follow_redirects=False).status_code == 404


def test_the_journal_cuts_long_paths(client: SpecCheckedClient) -> None:
    client.get("/x" * 30_000)
    assert len(client.get("/__mock/requests").json()["requests"][0]["path"]) <= 500


@pytest.mark.parametrize("header", ["bytes=5-1", "items=0-1", "bytes=abc", "bytes="])
def test_a_range_the_server_cannot_use_gets_the_whole_video(client: SpecCheckedClient, header: str) -> None:
    task_id = create_ok(client)
    client.post("/__mock/clock/advance", json={"seconds": 600})
    response = client.get(f"/__mock/assets/{task_id}/result_00.mp4", headers={"Range": header})
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"


def test_the_mock_refuses_a_spec_whose_lifecycle_it_does_not_run(spec: ApiSpec) -> None:
    document = json.loads(json.dumps(spec.document))
    lifecycle = document["components"]["schemas"]["TaskStatus"]["x-task-lifecycle"]
    lifecycle["transitions"]["queued"] = ["running"]
    with pytest.raises(SpecError, match="transitions"):
        create_app(Settings(), spec=ApiSpec(document))


def test_an_unknown_task_id_with_odd_characters_is_404(client: SpecCheckedClient) -> None:
    for task_id in ["%00", "..%2F..%2Fetc", str(uuid.uuid4()).upper() + "X"]:
        assert client.get(poll_path(task_id), headers=AUTH).status_code == 404
