"""Edited values checked against the request's ``editable`` JSON Schema (jsonschema, as the settings are)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from domain.approvals.edits import block_id

FIRST_BLOCK = "edit:"


def schema_problem(editable: Mapping[str, Any]) -> str | None:
    """Why ``editable`` is not a usable JSON Schema (draft 2020-12), or None."""
    try:
        jsonschema.Draft202012Validator.check_schema(dict(editable))
    except jsonschema.exceptions.SchemaError as exc:
        return exc.message[:300]
    return None


def errors_of(values: Mapping[str, Any], editable: Mapping[str, Any]) -> dict[str, str]:
    """The schema's complaints by the modal's block id (a complaint about the whole goes on the first input)."""
    validator = jsonschema.Draft202012Validator(dict(editable))
    props = list(editable.get("properties", {}))
    errors: dict[str, str] = {}
    for error in validator.iter_errors(dict(values)):
        key = error.path[0] if error.path else (props[0] if props else "")
        errors.setdefault(block_id(str(key)), error.message[:150])
    return errors
