"""The spec itself: valid OpenAPI 3.1, examples that satisfy their own schemas, and every seed fact in it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.validation.schemas import oas31_schema_validators_factory
from openapi_spec_validator import validate

from sparkspec.openapi import SAFE_LOADER, ApiSpec, enumerated
from sparkspec.resources import spec_path
from tests.helpers import REPO

CREATE = ("/vendors/mulerouter/v1/wan2.6-i2v-spark/generation", "post")
POLL = ("/vendors/mulerouter/v1/wan2.6-i2v-spark/generation/{task_id}", "get")


@pytest.fixture(scope="module")
def openapi(spec: ApiSpec) -> OpenAPI:
    return OpenAPI.from_dict(spec.localized("/"))


def test_the_spec_passes_openapi_spec_validator(spec: ApiSpec) -> None:
    validate(dict(spec.document))  # raises on any problem
    assert spec.document["openapi"].startswith("3.1")


def test_the_mock_reads_the_spec_in_the_repository() -> None:
    assert spec_path() == REPO / "spec" / "openapi.yaml"


def test_libyaml_reads_the_spec_as_pure_python_yaml_does(spec: ApiSpec) -> None:
    """The mock parses with libyaml (for a faster start); the document must be the one PyYAML reads."""
    assert SAFE_LOADER is yaml.CSafeLoader  # PyYAML's wheels carry libyaml: the fast path is the one taken
    assert spec.document == yaml.load(spec_path().read_text(encoding="utf-8"), Loader=yaml.SafeLoader)


def _examples(spec: ApiSpec) -> Iterator[tuple[str, Any, Any]]:
    """(where, schema path in openapi-core, example value) for every example in the spec."""
    for path, item in spec.document["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in body.get("examples", {}).items():
                yield (
                    f"{method} {path} request {name}",
                    ("paths", path, method, "requestBody", "content", "application/json", "schema"),
                    example["value"],
                )
            for status, response in op["responses"].items():
                response = spec.resolve(response)
                media = response.get("content", {}).get("application/json", {})
                where = ("paths", path, method, "responses", status, "content", "application/json", "schema")
                if "example" in media:
                    yield (f"{method} {path} {status} example", where, media["example"])
                for name, example in media.get("examples", {}).items():
                    yield (f"{method} {path} {status} {name}", where, example["value"])
                for header, definition in response.get("headers", {}).items():
                    definition = spec.resolve(definition)
                    if "example" in definition:
                        header_where = ("paths", path, method, "responses", status, "headers", header, "schema")
                        yield (f"{method} {path} {status} header {header}", header_where, definition["example"])


def test_every_example_satisfies_its_own_schema(spec: ApiSpec, openapi: OpenAPI) -> None:
    seen = 0
    for where, parts, value in _examples(spec):
        schema = openapi.spec
        for part in parts:
            schema = schema / part
        validator = oas31_schema_validators_factory.create(openapi.spec, schema)
        errors = [e.message for e in validator.validator.iter_errors(value)]
        assert not errors, f"{where}: {errors}"
        seen += 1
    assert seen >= 20  # request examples, every response, every header


# The seeds (the endpoint's two documentation pages), field by field.
SEED_FIELDS: dict[str, dict[str, Any]] = {
    "prompt": {"type": "string", "maxLength": 2000},
    "negative_prompt": {"type": "string", "maxLength": 500},
    "resolution": {"enum": ["1080P"], "default": "1080P"},
    "duration": {"type": "integer", "enum": [5, 10, 15], "default": 5},
    "prompt_extend": {"type": "boolean", "default": True},
    "shot_type": {"enum": ["single", "multi", None], "default": "single"},
    "audio": {"type": ["boolean", "null"], "default": True},
    "audio_url": {"type": ["string", "null"], "format": "uri"},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2147483647},
}


@pytest.mark.parametrize("field", sorted(SEED_FIELDS))
def test_every_field_of_the_seeds_has_its_documented_constraint(spec: ApiSpec, field: str) -> None:
    schema = spec.resolve(spec.request_schema("createGeneration")["properties"][field])
    for keyword, value in SEED_FIELDS[field].items():
        assert schema.get(keyword) == value, f"{field}.{keyword}"


def test_required_fields_image_fields_and_their_rules(spec: ApiSpec) -> None:
    request = spec.request_schema("createGeneration")
    assert request["required"] == ["prompt", "image"]
    rules = spec.fields_with_extension("createGeneration", "x-image-rules")
    assert sorted(rules) == ["image", "last_frame"]
    assert {k: v for k, v in rules["image"].items() if k != "x-provenance"} == {
        "formats": ["JPEG", "PNG", "BMP", "WEBP"],
        "min-side": 360,
        "max-side": 2000,
        "max-bytes": 10 * 1024 * 1024,
        "png-transparency": False,
        "max-url-length": 8192,
    }
    audio = dict(spec.resolve(request["properties"]["audio_url"])["x-audio-rules"])
    audio.pop("x-provenance")
    assert audio == {"formats": ["wav", "mp3"], "min-seconds": 3, "max-seconds": 30, "max-bytes": 15 * 1024 * 1024}
    multi_shots = spec.resolve(request["properties"]["multi_shots"])
    listed = enumerated(multi_shots)
    assert multi_shots["default"] == "single" and listed is not None and {"single", "multi"} <= set(listed["enum"])


def test_an_any_of_of_listed_values_reads_as_one_type_and_enum() -> None:
    shots = {"anyOf": [{"type": "string", "enum": ["single", "multi"]}, {"type": "boolean"}, {"type": "null"}]}
    assert enumerated(shots) == {"type": ["string", "boolean", "null"], "enum": ["single", "multi", True, False, None]}
    assert enumerated({"anyOf": [{"type": "integer", "enum": [1]}, {"type": "boolean", "enum": [True]}]}) == {
        "type": ["integer", "boolean"],
        "enum": [1, True],  # true is not 1 in JSON Schema
    }
    others: list[dict[str, Any]] = [
        {"type": ["string", "null"]},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},  # any string: not listed
        {"anyOf": [{"type": "string", "enum": ["a"], "maxLength": 1}]},  # another rule in a branch
        {"anyOf": [{"$ref": "#/components/schemas/TaskStatus"}]},
        {"anyOf": [{"required": ["code"]}, {"required": ["error_code"]}]},
    ]
    for other in others:
        assert enumerated(other) is None, other


def test_the_seed_examples_are_in_the_spec(spec: ApiSpec) -> None:
    examples = spec.operation("createGeneration").node["requestBody"]["content"]["application/json"]["examples"]
    values = [e["value"] for e in examples.values()]
    assert {
        "prompt": "A black cat looks curiously at the sky, camera gradually rises from eye-level to overhead",
        "image": "https://example.com/first_frame.jpg",
        "resolution": "1080P",
        "duration": 5,
    } in values
    assert {
        "prompt": "Character starts walking, expression changes naturally",
        "image": "https://example.com/person.jpg",
        "last_frame": "https://example.com/person_end.jpg",
        "resolution": "1080P",
        "duration": 10,
        "audio": True,
    } in values
    assert {
        "prompt": "Scene transition with smooth camera movement",
        "image": "https://example.com/scene.jpg",
        "resolution": "1080P",
        "duration": 15,
        "prompt_extend": True,
        "multi_shots": "multi",
    } in values
    curl = next(v for v in values if "audio_url" in v)
    assert curl["seed"] == 1073741823 and curl["shot_type"] == "single"
    created = spec.operation("createGeneration").node["responses"]["202"]
    assert created["description"] == "Accepted - Task created successfully"
    docs = created["content"]["application/json"]["examples"]["docs"]["value"]["task_info"]
    assert docs == {
        "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "status": "pending",
        "created_at": "2023-11-07T05:31:56Z",
        "updated_at": "2023-11-07T05:31:56Z",
    }


def test_lifecycle_words_are_exactly_the_status_enum(spec: ApiSpec) -> None:
    lifecycle = spec.lifecycle
    words = {word for vocabulary in lifecycle.vocabularies.values() for word in vocabulary.values()}
    assert words == set(spec.document["components"]["schemas"]["TaskStatus"]["enum"])
    assert lifecycle.vocabularies["guide"] == {
        "queued": "queued",
        "running": "running",
        "succeeded": "succeeded",
        "failed": "failed",
    }
    assert lifecycle.vocabularies["legacy"]["queued"] == "pending"
    assert lifecycle.terminal == {"succeeded", "failed"}
    assert lifecycle.transitions == {"queued": {"running", "failed"}, "running": {"succeeded", "failed"}}


def test_documented_statuses_auth_and_link(spec: ApiSpec) -> None:
    assert {202, 400, 401, 402, 429, 500} <= spec.documented_statuses("createGeneration")
    assert {200, 401, 404} <= spec.documented_statuses("getGeneration")
    assert spec.document["security"] == [{"bearerAuth": []}]
    assert spec.document["components"]["securitySchemes"]["bearerAuth"] == {
        **spec.document["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    link = spec.operation("createGeneration").node["responses"]["202"]["links"]["GetGenerationTask"]
    assert link["operationId"] == "getGeneration"
    assert link["parameters"] == {"task_id": "$response.body#/task_info/id"}
    assert [e.code for e in spec.task_error_codes] == [3001, 3002, 3003, 3004, 3005, 4002, 4008]


def test_every_response_declares_traceparent_and_every_error_its_code(spec: ApiSpec) -> None:
    for op in spec.operations.values():
        for status, response in op.node["responses"].items():
            response = spec.resolve(response)
            assert "Traceparent" in response.get("headers", {}), f"{op.operation_id} {status}"
            if int(status) >= 400:
                example = response["content"]["application/json"]["example"]
                assert example["error_code"] == response["x-error-code"], f"{op.operation_id} {status}"
