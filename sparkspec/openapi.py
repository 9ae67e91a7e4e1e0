"""The contract as data: ``spec/openapi.yaml`` loaded once, with the parts the mock reads from it.

Every limit, default, status word and error code the mock uses comes from here, so that each
constraint of the API is written once, in the spec.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sparkspec.resources import spec_path

# libyaml's parser when PyYAML has it (its wheels do): much faster, and reading the spec is much of the start.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecError(Exception):
    """The spec lacks something the mock needs, or says it in a form the mock cannot read."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the spec: where it is mounted, and what it declares."""

    operation_id: str
    method: str
    path: str
    node: Mapping[str, Any]

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(p["name"] for p in self.node.get("parameters", ()) if p.get("in") == "path")


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """``x-task-lifecycle``: the phases of a task, how they follow each other, and their words."""

    phases: tuple[str, ...]
    initial: str
    terminal: frozenset[str]
    transitions: Mapping[str, frozenset[str]]
    vocabularies: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class TaskErrorCode:
    """One entry of ``x-task-error-codes``: a documented reason for a task to fail."""

    code: int
    title: str
    description: str


class ApiSpec:
    """The parsed contract. Build it once with :meth:`load`; it never changes afterwards."""

    def __init__(self, document: Mapping[str, Any], source: Path | None = None) -> None:
        self.document: Mapping[str, Any] = document
        self.source = source
        self.operations: dict[str, Operation] = {op.operation_id: op for op in self._iter_operations()}

    @classmethod
    def load(cls, path: Path | None = None) -> ApiSpec:
        """Read the spec from ``path``, or from the one that ships with the package."""
        path = path or spec_path()
        with path.open(encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=SAFE_LOADER)
        if not isinstance(document, dict) or "paths" not in document:
            raise SpecError(f"{path} is not an OpenAPI document")
        return cls(document, path)

    def localized(self, server_url: str = "/") -> dict[str, Any]:
        """A copy whose only server is ``server_url``, so that any host the mock runs on matches it."""
        document = copy.deepcopy(dict(self.document))
        document["servers"] = [{"url": server_url, "description": "this mock"}]
        return document

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref`` pointers until a node that is not a reference."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
                raise SpecError(f"cannot follow $ref {ref!r}")
            seen.add(ref)
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def operation(self, operation_id: str) -> Operation:
        try:
            return self.operations[operation_id]
        except KeyError:
            raise SpecError(f"the spec has no operation {operation_id!r}") from None

    def request_schema(self, operation_id: str) -> Mapping[str, Any]:
        body = self.resolve(self.operation(operation_id).node.get("requestBody"))
        try:
            return self.resolve(body["content"]["application/json"]["schema"])  # type: ignore[no-any-return]
        except (KeyError, TypeError):
            raise SpecError(f"{operation_id} has no application/json request body") from None

    def request_defaults(self, operation_id: str) -> dict[str, Any]:
        """The ``default`` of each top-level property of the operation's JSON body."""
        properties = self.request_schema(operation_id).get("properties", {})
        return {
            name: copy.deepcopy(schema["default"])
            for name, schema in ((n, self.resolve(s)) for n, s in properties.items())
            if "default" in schema
        }

    def fields_with_extension(self, operation_id: str, extension: str) -> dict[str, Mapping[str, Any]]:
        """Top-level body fields whose schema (through ``$ref`` and ``allOf``) carries ``extension``."""
        found: dict[str, Mapping[str, Any]] = {}
        for name, schema in self.request_schema(operation_id).get("properties", {}).items():
            value = self._find_extension(schema, extension)
            if value is not None:
                found[name] = value
        return found

    def schemas_with_extension(self, extension: str) -> dict[str, Mapping[str, Any]]:
        """Component schemas that carry ``extension``, by name."""
        schemas = self.document.get("components", {}).get("schemas", {})
        return {name: schema for name, schema in schemas.items() if extension in schema}

    def response_error_code(self, operation_id: str, status: int) -> int:
        """``x-error-code`` of a documented error response: the ``error_code`` its body carries."""
        responses = self.operation(operation_id).node.get("responses", {})
        response = self.resolve(responses.get(str(status)))
        if not isinstance(response, Mapping) or "x-error-code" not in response:
            raise SpecError(f"{operation_id} documents no {status} response with x-error-code")
        return int(response["x-error-code"])

    def refusals(self, operation_id: str) -> dict[int, str]:
        """``x-refusal`` of each documented error response: what it refuses (``body``, ``rate``, ...)."""
        found = {}
        for code, response in self.operation(operation_id).node.get("responses", {}).items():
            resolved = self.resolve(response)
            if code.isdigit() and isinstance(resolved, Mapping) and "x-refusal" in resolved:
                found[int(code)] = str(resolved["x-refusal"])
        return found

    def documented_statuses(self, operation_id: str) -> frozenset[int]:
        return frozenset(int(code) for code in self.operation(operation_id).node.get("responses", {}) if code.isdigit())

    @property
    def lifecycle(self) -> Lifecycle:
        status = self.document["components"]["schemas"]["TaskStatus"]
        raw = status.get("x-task-lifecycle")
        if not isinstance(raw, Mapping):
            raise SpecError("TaskStatus has no x-task-lifecycle")
        vocabularies = {name: dict(entry["words"]) for name, entry in raw["vocabularies"].items()}
        phases = tuple(raw["phases"])
        for name, words in vocabularies.items():
            if set(words) != set(phases):
                raise SpecError(f"vocabulary {name!r} does not name every phase")
            unknown = set(words.values()) - set(status.get("enum", ()))
            if unknown:
                raise SpecError(f"vocabulary {name!r} uses words outside the TaskStatus enum: {sorted(unknown)}")
        return Lifecycle(
            phases=phases,
            initial=raw["initial"],
            terminal=frozenset(raw["terminal"]),
            transitions={k: frozenset(v) for k, v in raw["transitions"].items()},
            vocabularies=vocabularies,
        )

    @property
    def bearer_token_pattern(self) -> re.Pattern[str]:
        """``x-token-pattern`` of the bearer scheme: what a well-formed token is (any, without one)."""
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        found = [
            s["x-token-pattern"] for s in schemes.values() if s.get("scheme") == "bearer" and "x-token-pattern" in s
        ]
        return re.compile(found[0] if found else r"^\S+$")

    @property
    def bearer_key_pattern(self) -> re.Pattern[str] | None:
        """``x-key-pattern`` of the bearer scheme: what a key of the API's is taken to look like
        (``None`` when the spec does not say)."""
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        found = [s["x-key-pattern"] for s in schemes.values() if s.get("scheme") == "bearer" and "x-key-pattern" in s]
        return re.compile(found[0]) if found else None

    @property
    def task_error_codes(self) -> tuple[TaskErrorCode, ...]:
        raw = self.document["components"]["schemas"]["TaskError"].get("x-task-error-codes", ())
        return tuple(TaskErrorCode(int(e["code"]), str(e["title"]), str(e["description"])) for e in raw)

    def _iter_operations(self) -> Iterator[Operation]:
        for path, item in self.document["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    node = item[method]
                    if "operationId" not in node:
                        raise SpecError(f"{method.upper()} {path} has no operationId")
                    yield Operation(node["operationId"], method.upper(), path, node)

    def _find_extension(self, schema: Any, extension: str) -> Mapping[str, Any] | None:
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping):
            return None
        if extension in schema:
            return schema[extension]  # type: ignore[no-any-return]
        for part in schema.get("allOf", ()):
            found = self._find_extension(part, extension)
            if found is not None:
                return found
        return None


# The values of each JSON type that can be listed whole.
_ALL_VALUES: dict[str, tuple[Any, ...]] = {"boolean": (True, False), "null": (None,)}
# What a branch of an anyOf may say besides its type and enum, and still be read by enumerated().
_ANNOTATIONS = frozenset({"title", "description"})


def enumerated(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """``schema``'s ``anyOf`` as one ``type`` list and one ``enum``, when each of its branches is one type
    whose values are listed (by an ``enum``, or because the type has few: a boolean, null); ``None`` otherwise.

    The spec writes a field that takes values of several types this way, which code generators read
    (they take no enum that mixes types): ``anyOf: [{type: string, enum: [single, multi]}, {type: boolean},
    {type: 'null'}]`` is ``{type: [string, boolean, null], enum: [single, multi, true, false, null]}``.
    """
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or not branches:
        return None
    types: list[str] = []
    members: list[Any] = []
    for branch in branches:
        if not isinstance(branch, Mapping) or not isinstance(branch.get("type"), str):
            return None
        if any(key not in ("type", "enum") and key not in _ANNOTATIONS for key in branch if not key.startswith("x-")):
            return None
        kind = branch["type"]
        listed = branch["enum"] if "enum" in branch else _ALL_VALUES.get(kind)
        if listed is None:
            return None
        types += [kind] if kind not in types else []
        members += [m for m in listed if not any(type(m) is type(n) and m == n for n in members)]
    return {"type": types, "enum": members}
