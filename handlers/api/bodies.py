"""Request bodies and query strings of the agents' API, checked against the schemas the OpenAPI document
publishes (JSON Schema 2020-12, the dialect of OpenAPI 3.1), so docs and validation cannot drift apart."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
from aiohttp import web

from handlers.errors import json_error
from integrations.webhooks.depth import MAX_DEPTH, TooDeep
from integrations.webhooks.depth import loads as bounded_loads

SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
MAX_INT_DIGITS = 18  # below 2**63, and far below int()'s 4300-digit limit (which raises ValueError)
ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _unstorable(value: Any) -> str | None:
    """Why PostgreSQL could not store this JSON value (text with NUL or a lone surrogate, NaN/Infinity)."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text may not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text must be valid Unicode (no lone surrogates)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite"
    if isinstance(value, dict):
        return next((r for k, v in value.items() if (r := _unstorable(k) or _unstorable(v))), None)
    if isinstance(value, list):
        return next((r for v in value if (r := _unstorable(v))), None)
    return None


def check(value: Any, schema: dict[str, Any]) -> None:
    """Raise 400 with the validator's message unless ``value`` fits ``schema``."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise bad_request(f"{where + ': ' if where else ''}{error.message}")
    if (reason := _unstorable(value)) is not None:
        raise bad_request(reason)


class BadJson(ValueError):
    """A body that is not acceptable JSON; the message says why, for a 400."""


def parse_json(raw: bytes, *, loads: Callable[[str], Any] = json.loads) -> Any:
    """A request body as JSON: UTF-8 whatever the declared charset, at most MAX_DEPTH levels deep, and no
    lone surrogate (``\\ud800``) PostgreSQL could not store. Raises BadJson."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJson(f"body is not UTF-8 (invalid byte at offset {exc.start})") from exc
    try:
        value = bounded_loads(text, parse=loads)
    except TooDeep as exc:
        raise BadJson(f"body nests JSON deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise BadJson(f"body is not JSON: {exc}") from exc
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadJson("text must be valid Unicode (no lone surrogates)") from exc
    return value


async def read_json(request: web.Request, *, loads: Callable[[str], Any] = json.loads) -> Any:
    """The request's body through ``parse_json``; 400 when it is refused."""
    try:
        return parse_json(await request.read(), loads=loads)
    except BadJson as exc:
        raise bad_request(str(exc)) from exc


async def json_body(
    request: web.Request, schema: dict[str, Any], *, loads: Callable[[str], Any] = json.loads
) -> dict[str, Any]:
    """The request's JSON object, validated; 400 when it is not JSON or does not fit."""
    body = await read_json(request, loads=loads)
    check(body, schema)
    result: dict[str, Any] = body
    return result


def query_str(request: web.Request, name: str, *, max_len: int = 200) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_len or "\x00" in value:
        raise bad_request(f"{name} must be at most {max_len} characters without NUL")
    return value


def ascii_int(raw: str) -> int | None:
    """``raw`` as a non-negative integer in ASCII digits 0-9, else None. ``str.isdigit`` accepts "²" and
    "①", which ``int()`` then refuses with a ValueError, and ``int()`` reads full-width digits, spaces,
    signs and underscores: none of those is a number here."""
    if not raw or len(raw) > MAX_INT_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def query_int(request: web.Request, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_int(raw)
    if value is None or not minimum <= value <= maximum:
        raise bad_request(f"{name} must be an integer from {minimum} to {maximum}")
    return value


def query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    raw = query_str(request, name)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be a UUID") from exc


def parse_time(raw: str, name: str) -> datetime:
    """An ISO 8601 timestamp (a date alone means its UTC midnight; no zone means UTC)."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"{name} must be an ISO 8601 timestamp, e.g. 2026-11-27T10:00:00Z") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not 1 <= value.astimezone(UTC).year <= 9998:
        raise bad_request(f"{name} is out of range")
    return value


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = query_str(request, name, max_len=64)
    return None if raw is None else parse_time(raw, name)


def created(data: dict[str, Any]) -> web.Response:
    return web.json_response(data, status=201, dumps=lambda v: json.dumps(v, default=str))


def ok(data: Any) -> web.Response:
    return web.json_response(data, dumps=lambda v: json.dumps(v, default=str))


def not_found(what: str) -> web.Response:
    return json_error(404, f"{what} not found")


# Query parameter fragments for the OpenAPI document.
def param(name: str, schema: dict[str, Any], description: str = "", where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def responses(ok_status: str, ok_schema: dict[str, Any], *errors: str) -> dict[str, Any]:
    out: dict[str, Any] = {ok_status: {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for status in ("400", "401", "403", *errors):
        out[status] = {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return out


def request_body(schema_ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }
