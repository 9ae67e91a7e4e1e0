"""A Python client generated from the spec by openapi-python-client creates a task and polls it, against the mock.

The client is generated here, from the spec in the repository, so it cannot go stale: the test shows that the
generator reads the spec cleanly (both operations, not one warning) and that the code it writes talks to the mock
(in-process, each answer checked against the spec as every test's is). ``make spec-tools`` runs the generator's
command line, with openapi-typescript and Redocly's linter, on the same spec.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_python_client import generate
from openapi_python_client.config import Config, ConfigFile, MetaType

from mockserver import ManualClock
from sparkspec.resources import spec_path
from tests.helpers import AUTH, VALID_BODY, ClientFactory, SpecCheckedClient

PACKAGE = "spark_generated_client"
OPERATIONS = ("create_generation", "get_generation")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The client's modules, by name: generated from the spec, imported, and forgotten after the module's tests."""
    root = tmp_path_factory.mktemp("client") / PACKAGE
    # No post hooks: the generated code is imported, not read, so it need not be formatted with ruff.
    config_file = ConfigFile(package_name_override=PACKAGE, post_hooks=[])
    config = Config.from_sources(config_file, MetaType.NONE, spec_path(), "utf-8", overwrite=True, output_path=root)
    problems = generate(config=config)
    assert [f"{p.level}: {p.header}: {p.detail}" for p in problems] == []
    assert sorted(p.stem for p in (root / "api" / "generation").glob("*_generation.py")) == sorted(OPERATIONS)
    found = importlib.util.spec_from_file_location(
        PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)]
    )
    assert found is not None and found.loader is not None
    sys.modules[PACKAGE] = package = importlib.util.module_from_spec(found)
    try:
        found.loader.exec_module(package)
        names = [f"api.generation.{op}" for op in OPERATIONS] + ["models", "types"]
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names} | {"": package}
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


class ThroughTestClient(httpx.BaseTransport):
    """Hands each request of the generated client to a TestClient of the mock, which checks the answer."""

    def __init__(self, mock: SpecCheckedClient) -> None:
        self.mock = mock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.mock.request(request.method, str(request.url), headers=request.headers, content=request.read())
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def test_a_generated_python_client_creates_a_task_and_polls_it(
    generated: dict[str, ModuleType], make_client: ClientFactory, clock: ManualClock
) -> None:
    mock = make_client()
    models: Any = generated["models"]
    create: Any = generated["api.generation.create_generation"]
    poll: Any = generated["api.generation.get_generation"]
    token = AUTH["Authorization"].removeprefix("Bearer ")
    client = generated[""].AuthenticatedClient(
        base_url="http://testserver", token=token, httpx_args={"transport": ThroughTestClient(mock)}
    )
    # multi_shots in its boolean form, which the spec's anyOf lets generators read. The generated model sends
    # every field that has a default unless told otherwise: shot_type "single" would come along, and win.
    body = models.GenerationRequest(
        prompt=VALID_BODY["prompt"], image=VALID_BODY["image"], shot_type=generated["types"].UNSET, multi_shots=True
    )
    created = create.sync(client=client, body=body)
    assert isinstance(created, models.TaskCreated), created
    assert created.task_info.status == models.TaskStatus.QUEUED
    noted = mock.get("/__mock/requests?limit=1").json()["requests"][0]
    assert noted["body"]["multi_shots"] is True and "shot_type" not in noted["body"]
    assert noted["notes"]["shot_type"] == "multi"

    statuses = []
    for _ in range(60):
        result = poll.sync(task_id=created.task_info.id, client=client)
        assert isinstance(result, models.TaskResult), result
        statuses.append(result.task_info.status)
        if result.task_info.status in (models.TaskStatus.SUCCEEDED, models.TaskStatus.FAILED):
            break
        clock.advance(20)
    assert statuses[-1] == models.TaskStatus.SUCCEEDED, statuses
    assert models.TaskStatus.RUNNING in statuses
    assert result.task_info.id == created.task_info.id
    assert len(result.videos) == 1 and mock.get(result.videos[0]).status_code == 200


def test_an_invalid_create_comes_back_as_the_spec_s_error(
    generated: dict[str, ModuleType], make_client: ClientFactory
) -> None:
    models: Any = generated["models"]
    create: Any = generated["api.generation.create_generation"]
    client = generated[""].AuthenticatedClient(
        base_url="http://testserver", token="sk-mr-test-key", httpx_args={"transport": ThroughTestClient(make_client())}
    )
    body = models.GenerationRequest(prompt="x" * 2001, image=VALID_BODY["image"])
    refused = create.sync_detailed(client=client, body=body)
    assert refused.status_code == 400 and isinstance(refused.parsed, models.Error)
    assert refused.parsed.error_code == 2001 and "prompt" in refused.parsed.detail
