"""A small JSON Schema checker for the keywords our schemas use (topics.schema.json, config.json's).

Supported: type, const, minimum, minLength, minItems, pattern, required, properties,
additionalProperties (true/false) and items. A "number" must be finite (Python's json reads NaN and
Infinity) and a string valid Unicode (Python's json reads lone surrogate escapes such as \\ud800).
The first problem found is raised as :class:`SchemaError`, with its JSON path.
"""
from __future__ import annotations

import math
import re
from typing import Any

_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
}


class SchemaError(ValueError):
    """A JSON document does not follow its schema; the message starts with the JSON path."""


def _has_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "number":
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, _TYPES[kind])


def validate(instance: Any, schema: dict[str, Any], path: str = "$") -> None:
    """Raise SchemaError at the first place where ``instance`` breaks ``schema``."""
    if "const" in schema and instance != schema["const"]:
        raise SchemaError(f"{path}: expected {schema['const']!r}, got {instance!r}")
    if "type" in schema and not _has_type(instance, schema["type"]):
        raise SchemaError(f"{path}: expected {schema['type']}, got {type(instance).__name__} {_short(instance)}")
    if isinstance(instance, str) and not is_unicode(instance):
        raise SchemaError(f"{path}: not valid Unicode (a lone surrogate escape such as \\ud800)")
    if "minimum" in schema and instance < schema["minimum"]:
        raise SchemaError(f"{path}: {instance!r} is below the minimum {schema['minimum']}")
    if "minLength" in schema and len(instance) < schema["minLength"]:
        raise SchemaError(f"{path}: shorter than {schema['minLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], instance):
        raise SchemaError(f"{path}: {_short(instance)} does not match {schema['pattern']}")
    if isinstance(instance, dict):
        _validate_object(instance, schema, path)
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            raise SchemaError(f"{path}: needs at least {schema['minItems']} item(s)")
        if "items" in schema:
            for i, item in enumerate(instance):
                validate(item, schema["items"], f"{path}[{i}]")


def _validate_object(instance: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    for key in schema.get("required", []):
        if key not in instance:
            raise SchemaError(f"{path}: missing key {key!r}")
    props = schema.get("properties", {})
    for key, value in instance.items():
        if key in props:
            validate(value, props[key], f"{path}.{key}")
        elif schema.get("additionalProperties", True) is False:
            raise SchemaError(f"{path}: unexpected key {key!r}")


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
