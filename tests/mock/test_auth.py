"""Both operations demand a bearer token; a missing or malformed one gets 401."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mockserver import Settings, SettingsError
from mockserver.routes import AUTH_VERDICT_BYTES, AUTH_VERDICTS
from tests.helpers import AUTH, CREATE_PATH, VALID_BODY, ClientFactory, SpecCheckedClient, create_ok, poll_path

BAD_HEADERS = [
    ({}, "Missing Authorization header"),
    ({"Authorization": ""}, "Invalid Authorization header format"),
    ({"Authorization": "Bearer"}, "Invalid Authorization header format"),
    ({"Authorization": "Bearer "}, "Invalid Authorization header format"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Invalid Authorization header format"),
    ({"Authorization": "Token sk-mr-abc"}, "Invalid Authorization header format"),
    ({"Authorization": "Bearer two words"}, "Invalid Authorization header format"),
]


def _call(
    client: SpecCheckedClient, operation: str, headers: dict[str, str], task_id: str
) -> tuple[int, dict[str, str]]:
    if operation == "create":
        response = client.post(CREATE_PATH, json=VALID_BODY, headers=headers)
    else:
        response = client.get(poll_path(task_id), headers=headers)
    detail = response.json().get("detail", "")
    return response.status_code, {"detail": detail, "auth": response.headers.get("www-authenticate", "")}


@pytest.mark.parametrize("operation", ["create", "poll"])
@pytest.mark.parametrize(("headers", "detail"), BAD_HEADERS)
def test_a_missing_or_malformed_bearer_gets_401(
    client: SpecCheckedClient, operation: str, headers: dict[str, str], detail: str
) -> None:
    task_id = create_ok(client)
    status, answer = _call(client, operation, headers, task_id)
    assert status == 401
    assert answer["detail"].startswith(detail)
    assert answer["auth"].startswith("Bearer")


@pytest.mark.parametrize("operation", ["create", "poll"])
def test_by_default_any_key_of_mulerouters_form_is_accepted(client: SpecCheckedClient, operation: str) -> None:
    task_id = create_ok(client)
    for header in ["Bearer sk-mr-0123", "bearer sk-mr-lower-case-scheme", "Bearer  extra-space", "Bearer test.key_1"]:
        status, _ = _call(client, operation, {"Authorization": header}, task_id)
        assert status in (200, 202), header


@pytest.mark.parametrize("operation", ["create", "poll"])
@pytest.mark.parametrize("token", ["SCHEMATHESIS-INVALID-VALUE", "sk-mr-ABC", "Token", "-k", "sk/mr+0123="])
def test_by_default_a_well_formed_token_of_another_form_is_an_invalid_key(
    client: SpecCheckedClient, operation: str, token: str
) -> None:
    """Schemathesis's ``ignored_auth`` check sends a made-up key: the default mock refuses it, as the API would."""
    task_id = create_ok(client)
    status, answer = _call(client, operation, {"Authorization": f"Bearer {token}"}, task_id)
    assert status == 401
    assert answer["detail"].startswith("Invalid API key (this mock takes keys that match ^[a-z0-9]")
    assert "MOCK_API_KEYS" in answer["detail"]


@pytest.mark.parametrize("operation", ["create", "poll"])
def test_a_star_accepts_any_well_formed_token(make_client: ClientFactory, operation: str) -> None:
    client = make_client(Settings(api_keys=frozenset({"*"})))
    task_id = create_ok(client)
    for token in ["K", "SCHEMATHESIS-INVALID-VALUE", "sk-mr-0123"]:
        status, _ = _call(client, operation, {"Authorization": f"Bearer {token}"}, task_id)
        assert status in (200, 202), token
    status, answer = _call(client, operation, {"Authorization": "Bearer a,b"}, task_id)
    assert (status, answer["detail"]) == (401, "Invalid Authorization header format; expected 'Bearer <API key>'")


def test_a_star_goes_alone() -> None:
    with pytest.raises(SettingsError, match="goes alone"):
        Settings(api_keys=frozenset({"*", "sk-mr-a"}))


def test_auth_is_checked_before_the_body(client: SpecCheckedClient) -> None:
    response = client.post(CREATE_PATH, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_auth_is_checked_before_the_task_is_looked_up(client: SpecCheckedClient) -> None:
    assert client.get(poll_path(str(uuid.uuid4()))).status_code == 401


@pytest.mark.parametrize("operation", ["create", "poll"])
def test_with_api_keys_configured_only_those_keys_work(make_client: ClientFactory, operation: str) -> None:
    client = make_client(Settings(api_keys=frozenset({"sk-mr-good", "sk-mr-other"})))
    created = client.post(CREATE_PATH, json=VALID_BODY, headers={"Authorization": "Bearer sk-mr-good"})
    assert created.status_code == 202
    task_id = created.json()["task_info"]["id"]
    status, answer = _call(client, operation, {"Authorization": "Bearer sk-mr-revoked"}, task_id)
    assert (status, answer["detail"]) == (401, "Invalid API key")
    status, _ = _call(client, operation, {"Authorization": "Bearer sk-mr-other"}, task_id)
    assert status in (200, 202)


def test_the_default_client_headers_pass(client: SpecCheckedClient) -> None:
    assert client.post(CREATE_PATH, json=VALID_BODY, headers=AUTH).status_code == 202


def test_verdicts_on_headers_are_remembered_within_a_bound(make_client: ClientFactory) -> None:
    """Each header's verdict is worked out once and remembered, a bounded number of them: the same
    header gets the same answer every time, also once the remembered ones have been let go."""
    client = make_client(Settings(api_keys=frozenset({"sk-mr-good"})))
    app: Any = client.app
    verdicts: dict[bytes | None, str | None] = app._routes.find("POST", CREATE_PATH)[0].handler.__self__._verdicts
    for round_ in range(2):
        for number in range(AUTH_VERDICTS + 10):
            bad = client.post(CREATE_PATH, json=VALID_BODY, headers={"Authorization": f"Bearer sk-mr-{number}"})
            assert (bad.status_code, bad.json()["detail"]) == (401, "Invalid API key"), (round_, number)
            assert len(verdicts) <= AUTH_VERDICTS
            good = client.post(CREATE_PATH, json=VALID_BODY, headers={"Authorization": "Bearer sk-mr-good"})
            assert good.status_code == 202, (round_, number)
    long_header = "Bearer sk-mr-" + "a" * AUTH_VERDICT_BYTES
    assert client.post(CREATE_PATH, json=VALID_BODY, headers={"Authorization": long_header}).status_code == 401
    assert long_header.encode() not in verdicts
