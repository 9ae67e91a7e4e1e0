"""What a refused request is told: one :class:`RequestProblem` per broken rule, in words that name the
field and the rule, with the limits as the spec states them, and never more than a snippet of the value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError


@dataclass(frozen=True, slots=True)
class RequestProblem:
    """One broken rule: the field (a dotted path, or ``body``), the JSON Schema keyword, and a message."""

    field: str
    rule: str
    message: str


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def describe(error: ValidationError) -> RequestProblem:
    """A readable message for one JSON Schema error. It never echoes more than a snippet of the value."""
    field = _field(error.absolute_path)
    rule = str(error.validator)
    limit: Any = error.validator_value
    value: Any = error.instance
    if rule == "required":
        missing = [name for name in limit if isinstance(value, dict) and name not in value]
        field = _field([*error.absolute_path, missing[0]]) if missing else field
        return RequestProblem(field, rule, f"{field}: is required")
    messages = {
        "maxLength": lambda: f"must be at most {limit} characters (got {_length(value)})",
        "minLength": lambda: f"must be at least {limit} characters (got {_length(value)})",
        "maximum": lambda: f"must be at most {limit} (got {_show(value)})",
        "minimum": lambda: f"must be at least {limit} (got {_show(value)})",
        "exclusiveMaximum": lambda: f"must be less than {limit} (got {_show(value)})",
        "exclusiveMinimum": lambda: f"must be greater than {limit} (got {_show(value)})",
        "enum": lambda: f"must be one of {', '.join(_show(v) for v in limit)} (got {_show(value)})",
        "const": lambda: f"must be {_show(limit)} (got {_show(value)})",
        "type": lambda: f"must be {_types(limit)} (got {_type_of(value)})",
        "format": lambda: f"must be a valid {limit} (got {_show(value)})",
        "pattern": lambda: f"must match the pattern {limit} (got {_show(value)})",
        "anyOf": lambda: f"must be {_alternatives(error)} (got {_show(value)})",
        "oneOf": lambda: f"must be {_alternatives(error)} (got {_show(value)})",
        "additionalProperties": lambda: f"has unexpected fields ({', '.join(_extra(value, error))})",
    }
    explain = messages.get(rule)
    if rule == "format" and error.cause is not None:
        text = _snippet(str(error.cause), 300)  # a format of the spec's own, saying why
    else:
        text = explain() if explain else _snippet(error.message, 200)
    return RequestProblem(field, rule, f"{field}: {text}")


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
    names = [limit] if isinstance(limit, str) else list(limit)
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


def _extra(value: Any, error: ValidationError) -> list[str]:
    allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
    return sorted(str(k) for k in value if k not in allowed)[:5] if isinstance(value, dict) else []
