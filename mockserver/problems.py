"""What a refused request is told: one :class:`RequestProblem` per broken rule, in words that name the
field and the rule, with the limits as the spec states them, and never more than a snippet of the value."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

from sparkspec.openapi import enumerated


@dataclass(frozen=True, slots=True)
class RequestProblem:
    """One broken rule: the field (a dotted path, or ``body``), the JSON Schema keyword, and a message."""

    field: str
    rule: str
    message: str


_TYPE_ORDER = ["object", "array", "string", "integer", "number", "boolean", "null"]
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def describe(error: ValidationError) -> RequestProblem:
    """A readable message for one JSON Schema error. It never echoes more than a snippet of the value."""
    path, rule, limit, value = list(error.absolute_path), str(error.validator), error.validator_value, error.instance
    if rule == "required":
        # jsonschema raises one error per missing field, each naming the whole list: the first error
        # of a list names its first missing field, the next one its second (see describe_all).
        missing = [name for name in limit if isinstance(value, dict) and name not in value]  # type: ignore[union-attr]
        return _required([*path, missing[0]] if missing else path)
    if rule == "format" and error.cause is not None:
        return RequestProblem(_field(path), rule, f"{_field(path)}: {_snippet(str(error.cause), 300)}")
    listed = enumerated(error.schema) if rule == "anyOf" and isinstance(error.schema, Mapping) else None
    if listed is not None:
        # An anyOf of listed values (a field that takes values of several types) is told as the type and
        # enum it amounts to: a value of none of its types breaks the type, any other the enum.
        typed = _type_of(value) in listed["type"] or (_type_of(value) == "integer" and "number" in listed["type"])
        rule = "enum" if typed else "type"
        return RequestProblem(_field(path), rule, f"{_field(path)}: {_TEXTS[rule](listed[rule], value)}")
    if rule in ("anyOf", "oneOf"):
        return RequestProblem(
            _field(path), rule, f"{_field(path)}: must be {_alternatives(error)} (got {_show(value)})"
        )
    if rule == "additionalProperties":
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        limit = [k for k in value if k not in allowed] if isinstance(value, dict) else []
    return _problem(path, rule, limit, value) or RequestProblem(
        _field(path), rule, f"{_field(path)}: {_snippet(error.message, 200)}"
    )


def describe_all(errors: Iterable[ValidationError]) -> list[RequestProblem]:
    """:func:`describe` for each error, with one problem for each missing field."""
    problems: list[RequestProblem] = []
    missing_seen: dict[tuple[Any, ...], int] = {}
    for error in errors:
        if error.validator == "required" and isinstance(error.instance, dict):
            path = tuple(error.absolute_path)
            missing = [name for name in error.validator_value if name not in error.instance]  # type: ignore[union-attr]
            nth = missing_seen[path] = missing_seen.get(path, -1) + 1
            if nth < len(missing):
                problems.append(_required([*path, missing[nth]]))
                continue
        problems.append(describe(error))
    return problems


def describe_native(error: Any, instance: Any) -> RequestProblem | None:
    """:func:`describe` for an error of jsonschema-rs about ``instance``, in the same words; ``None`` for a
    rule whose words need what only Python's validator keeps (a format's reason, an ``anyOf``'s branches)."""
    kind = error.kind
    rule, facts = kind.name, kind.as_dict()
    path = list(error.instance_path)
    if rule == "required":
        return _required([*path, facts["property"]])
    limit = facts.get(_NATIVE_LIMITS.get(rule, "limit"))
    value = instance  # the value as sent: jsonschema-rs's copy of an object may order its keys otherwise
    for step in path:
        value = value[step]
    # A format's words are its check's reason, which only Python's validator keeps.
    return _problem(path, rule, limit, value) if rule in _TEXTS and rule != "format" else None


def _required(path: list[Any]) -> RequestProblem:
    return RequestProblem(_field(path), "required", f"{_field(path)}: is required")


def _problem(path: list[Any], rule: str, limit: Any, value: Any) -> RequestProblem | None:
    text = _TEXTS.get(rule)
    return RequestProblem(_field(path), rule, f"{_field(path)}: {text(limit, value)}") if text else None


_TEXTS: dict[str, Callable[[Any, Any], str]] = {
    "maxLength": lambda limit, value: f"must be at most {limit} characters (got {_length(value)})",
    "minLength": lambda limit, value: f"must be at least {limit} characters (got {_length(value)})",
    "maximum": lambda limit, value: f"must be at most {limit} (got {_show(value)})",
    "minimum": lambda limit, value: f"must be at least {limit} (got {_show(value)})",
    "exclusiveMaximum": lambda limit, value: f"must be less than {limit} (got {_show(value)})",
    "exclusiveMinimum": lambda limit, value: f"must be greater than {limit} (got {_show(value)})",
    "enum": lambda limit, value: f"must be one of {', '.join(_show(v) for v in limit)} (got {_show(value)})",
    "const": lambda limit, value: f"must be {_show(limit)} (got {_show(value)})",
    "type": lambda limit, value: f"must be {_types(limit)} (got {_type_of(value)})",
    "pattern": lambda limit, value: f"must match the pattern {limit} (got {_show(value)})",
    "format": lambda limit, value: f"must be a valid {limit} (got {_show(value)})",
    "additionalProperties": lambda extra, _: f"has unexpected fields ({', '.join(sorted(map(str, extra))[:5])})",
}
# Where jsonschema-rs keeps each rule's limit, when not under "limit".
_NATIVE_LIMITS = {
    "enum": "options",
    "const": "expected_value",
    "type": "types",
    "pattern": "pattern",
    "additionalProperties": "unexpected",
}


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _length(value: Any) -> str:
    return f"{len(value)}" if isinstance(value, str) else _show(value)


def _type_of(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _types(limit: Any) -> str:
    # In one order whatever the schema's (jsonschema-rs reorders them): null last.
    names = [limit] if isinstance(limit, str) else sorted(limit, key=_TYPE_ORDER.index)
    return " or ".join("a JSON object" if n == "object" else n for n in names)


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = json.dumps(_snippet(value, 40), ensure_ascii=False)
        return shown + (f" ({len(value)} characters)" if len(value) > 40 else "")
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _snippet(text, 60)


def _snippet(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alternatives(error: ValidationError) -> str:
    titles: list[str] = []
    for branch in error.context or ():
        title = branch.schema.get("title") if isinstance(branch.schema, Mapping) else None
        if title and str(title) not in titles:
            titles.append(str(title))
    if not titles:
        return "one of the accepted forms"
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]
