"""Edit before approve (pure): the modal built from a request's ``editable`` JSON Schema, and the values
read back from its submission, typed as the schema says. The schema itself is checked by
``domain.approvals.edit_check`` (jsonschema), never here.

Each editable property is one input, its block id ``edit:<key>``: an enum or a boolean a select, an integer
or number a number input (with the schema's bounds), a string a text input. The current value is the
initial one, so an approver changes only what they mean to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from domain.approvals.blocks import OUTSIDE_CHANNEL, CallbackId, clip, escape, mrkdwn, plain

VALUE = "value"
BLOCK_PREFIX = "edit:"
MAX_TEXT = 3000


def block_id(key: str) -> str:
    return BLOCK_PREFIX + key


def _option(text: str) -> dict[str, Any]:
    return {"text": plain(text, 75), "value": text}


def _element(spec: Mapping[str, Any], current: Any) -> dict[str, Any]:
    enum = spec.get("enum")
    kind = spec.get("type")
    if enum is not None or kind == "boolean":
        choices = [str(v) for v in enum] if enum is not None else ["true", "false"]
        shown = json.dumps(current) if kind == "boolean" and isinstance(current, bool) else str(current)
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": VALUE,
            "options": [_option(c) for c in choices],
        }
        if shown in choices:
            element["initial_option"] = _option(shown)
        return element
    if kind in ("integer", "number"):
        element = {"type": "number_input", "action_id": VALUE, "is_decimal_allowed": kind == "number"}
        if isinstance(current, int | float) and not isinstance(current, bool):
            element["initial_value"] = str(current)
        for bound, name in (("minimum", "min_value"), ("maximum", "max_value")):
            if isinstance(spec.get(bound), int | float):
                element[name] = str(spec[bound])
        return element
    limit = spec.get("maxLength")
    limit = min(limit, MAX_TEXT) if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else MAX_TEXT
    element = {"type": "plain_text_input", "action_id": VALUE, "max_length": limit}
    if isinstance(current, str) and current:
        element["initial_value"] = clip(current, MAX_TEXT)
    return element


def edit_modal(
    approval_id: str, action_type: str, editable: Mapping[str, Any], details: Mapping[str, Any], *, from_message: bool
) -> dict[str, Any]:
    """The "Edit and approve" modal: one input per editable property, prefilled with the current value."""
    required = set(editable.get("required") or ())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"Change what you need, then approve `{escape(action_type)}`.")}
    ]
    for key, spec in editable.get("properties", {}).items():
        label = spec.get("title") if isinstance(spec.get("title"), str) else key
        block: dict[str, Any] = {
            "type": "input",
            "block_id": block_id(key),
            "label": plain(label),
            "optional": key not in required,
            "element": _element(spec, details.get(key)),
        }
        if isinstance(spec.get("description"), str):
            block["hint"] = plain(spec["description"])
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": CallbackId.EDIT.value,
        "private_metadata": approval_id if from_message else approval_id + OUTSIDE_CHANNEL,
        "title": plain("Edit and approve", 24),
        "submit": plain("Approve", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


def _typed(spec: Mapping[str, Any], raw: str) -> Any:
    kind = spec.get("type")
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
    return raw


def values_from(
    view_state: Mapping[str, Any], editable: Mapping[str, Any], details: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the edited values by key, errors by block id) from a submission's ``view.state``. An input left
    empty keeps the current value; every editable key is in the result."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    state = view_state.get("values") or {}
    for key, spec in editable.get("properties", {}).items():
        entry = (state.get(block_id(key)) or {}).get(VALUE) or {}
        selected = entry.get("selected_option")
        raw = selected.get("value") if isinstance(selected, dict) else entry.get("value")
        if not isinstance(raw, str) or raw == "":
            if key in details:
                values[key] = details[key]
            continue
        try:
            values[key] = _typed(spec, raw)
        except ValueError as exc:
            errors[block_id(key)] = str(exc)
    return values, errors
