"""The JSON schema of a doctor report, and a small validator for it.

The schema is standard JSON Schema (draft 2020-12), so external tools can use it
(``python -m compat schema``); :func:`validate` implements the subset it uses, so
``compat`` can check a report without third-party packages.
"""

from __future__ import annotations

import re
from typing import Any

from ._model import AREAS, ID_PATTERN, STATUSES

REPORT_FORMAT = "compat-doctor-report/1"

_STR = {"type": "string"}
_NULLABLE_INT = {"type": ["integer", "null"]}

_RESULT = {
    "type": "object",
    "required": ["id", "area", "title", "status", "observed", "detail", "seconds", "method", "ran"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN.pattern},
        "area": {"enum": list(AREAS)},
        "title": _STR,
        "status": {"enum": list(STATUSES)},
        "observed": {},
        "detail": _STR,
        "seconds": {"type": "number", "minimum": 0},
        "method": {"type": ["string", "null"]},
        "ran": {"type": "boolean"},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "compat doctor report",
    "description": "What `python -m compat doctor --json` observed on one interpreter.",
    "type": "object",
    "required": [
        "format",
        "compat_version",
        "created",
        "platform",
        "start_methods",
        "cpu",
        "probe_method",
        "results",
        "summary",
        "seconds",
    ],
    "additionalProperties": False,
    "properties": {
        "format": {"const": REPORT_FORMAT},
        "compat_version": _STR,
        "created": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"},
        "platform": {
            "type": "object",
            "required": ["sys_platform", "os", "release", "machine", "python", "implementation"],
            "additionalProperties": False,
            "properties": {
                "sys_platform": _STR,
                "os": _STR,
                "release": _STR,
                "machine": _STR,
                "python": {"type": "string", "pattern": r"^\d+\.\d+\.\d+"},
                "implementation": _STR,
                "executable": _STR,
            },
        },
        "start_methods": {
            "type": "object",
            "required": ["available", "stdlib_default", "compat"],
            "additionalProperties": False,
            "properties": {
                "available": {"type": "array", "items": {"enum": ["fork", "spawn", "forkserver"]}},
                "stdlib_default": {"type": ["string", "null"]},
                "compat": {
                    "type": "object",
                    "required": ["method", "reason", "source"],
                    "additionalProperties": False,
                    "properties": {
                        "method": {"enum": ["fork", "spawn", "forkserver"]},
                        "reason": {"type": "string", "minLength": 1},
                        "source": {"enum": ["requested", "environment", "policy"]},
                    },
                },
            },
        },
        "cpu": {
            "type": "object",
            "required": ["os_cpu_count", "affinity", "process_cpu_count", "usable"],
            "additionalProperties": False,
            "properties": {
                "os_cpu_count": _NULLABLE_INT,
                "affinity": _NULLABLE_INT,
                "process_cpu_count": _NULLABLE_INT,
                "usable": {"type": "integer", "minimum": 1},
            },
        },
        "probe_method": {"enum": ["fork", "spawn", "forkserver"]},
        "results": {"type": "array", "items": _RESULT},
        "summary": {
            "type": "object",
            "required": list(STATUSES),
            "additionalProperties": False,
            "properties": {s: {"type": "integer", "minimum": 0} for s in STATUSES},
        },
        "seconds": {"type": "number", "minimum": 0},
    },
}

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(instance: Any, schema: Any = None, path: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (default: the report schema), as
    ``"$.results[3].status: 'maybe' is not one of [...]"`` lines; empty when valid.

    Supports the keywords the report schema uses: type, enum, const, pattern,
    minimum, minLength, required, properties, additionalProperties and items.
    """
    if schema is None:
        schema = SCHEMA
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(instance, n) for n in names):
            return [f"{path}: {instance!r:.60} is not of type {' or '.join(names)}"]
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: {instance!r:.60} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r:.60} is not one of {schema['enum']}")
    if isinstance(instance, str):
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{path}: {instance!r:.60} does not match {schema['pattern']!r}")
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
    if _is_type(instance, "number") and "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{path}: {instance} is less than {schema['minimum']}")
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in instance:
                errors.append(f"{path}: missing required property {key!r}")
        for key, value in instance.items():
            if key in properties:
                errors.extend(validate(value, properties[key], f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property {key!r}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            errors.extend(validate(item, schema["items"], f"{path}[{i}]"))
    return errors
