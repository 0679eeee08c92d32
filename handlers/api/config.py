"""Runtime settings (``agent_swarm_config``) over HTTP. A value must validate against its row's
``value_schema`` (JSON Schema); ``updated_by`` is the token's subject; the trigger keeps ``updated_at``."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from aiohttp import web

from handlers.api import document
from handlers.api.auth import as_caller, caller
from handlers.api.bodies import bad_request, check, json_body, not_found, ok, param, request_body, responses

routes = web.RouteTableDef()

KEY_PATTERN = "^[A-Za-z0-9_.:-]{1,200}$"
SETTING = {
    "type": "object",
    "required": ["config_key", "config_value", "updated_at"],
    "properties": {
        "config_key": {"type": "string"},
        "config_value": {},
        "description": {"type": ["string", "null"]},
        "value_schema": {"type": ["object", "boolean", "null"]},
        "updated_by": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
SETTING_IN = {
    "type": "object",
    "required": ["value"],
    "additionalProperties": False,
    "properties": {
        "value": {"description": "any JSON value that fits the setting's value_schema"},
        "description": {"type": "string", "maxLength": 2000, "description": "only for a new key"},
        "value_schema": {"type": "object", "description": "only for a new key: the JSON Schema of its values"},
    },
}

COLUMNS = "config_key, config_value, description, value_schema, updated_by, created_at, updated_at"
LIST = f"SELECT {COLUMNS} FROM agent_swarm_config ORDER BY config_key"
GET = f"SELECT {COLUMNS} FROM agent_swarm_config WHERE config_key = $1"
LOCK = "SELECT value_schema FROM agent_swarm_config WHERE config_key = $1 FOR UPDATE"
UPDATE = f"""
UPDATE agent_swarm_config SET config_value = coalesce($2, 'null'::jsonb), updated_by = $3
WHERE config_key = $1 RETURNING {COLUMNS}
"""
INSERT = f"""
INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema, updated_by)
VALUES ($1, coalesce($2, 'null'::jsonb), $3, $4, $5) RETURNING {COLUMNS}
"""


def _key(request: web.Request) -> str:
    key = request.match_info["key"]
    check(key, {"type": "string", "pattern": KEY_PATTERN})
    return key


def _validate(value: Any, schema: Any) -> None:
    if schema is None:
        return
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        raise bad_request(f"value does not fit the setting's value_schema: {error.message}")


@routes.get("/api/v1/config")
async def listing(request: web.Request) -> web.Response:
    async with as_caller(request) as conn:
        rows = await conn.fetch(LIST)
    return ok({"settings": [dict(r) for r in rows]})


@routes.get("/api/v1/config/{key}")
async def get(request: web.Request) -> web.Response:
    key = _key(request)
    async with as_caller(request) as conn:
        row = await conn.fetchrow(GET, key)
    return ok(dict(row)) if row else not_found(f"setting {key!r}")


@routes.put("/api/v1/config/{key}")
async def put(request: web.Request) -> web.Response:
    key = _key(request)
    body = await json_body(request, SETTING_IN)
    who = caller(request).subject
    async with as_caller(request) as conn:
        existing = await conn.fetchrow(LOCK, key)  # FOR UPDATE: a role that may not write is refused here
        if existing is not None:
            _validate(body["value"], existing["value_schema"])
            row = await conn.fetchrow(UPDATE, key, body["value"], who)
            return ok(dict(row))
        schema = body.get("value_schema")
        if schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise bad_request(f"value_schema is not a valid JSON Schema: {exc.message}") from exc
        _validate(body["value"], schema)
        row = await conn.fetchrow(INSERT, key, body["value"], body.get("description"), schema, who)
    return web.json_response(dict(row), status=201, dumps=lambda v: json.dumps(v, default=str))


def setup(app: web.Application) -> None:
    app.add_routes(routes)


KEY_PARAM = param("key", {"type": "string", "pattern": KEY_PATTERN}, where="path")
document(
    {
        "/api/v1/config": {
            "get": {
                "summary": "Every setting (service_role; RLS shows authenticated callers none)",
                "operationId": "listSettings",
                "security": [{"bearer": []}],
                "responses": responses(
                    "200",
                    {
                        "type": "object",
                        "required": ["settings"],
                        "properties": {
                            "settings": {"type": "array", "items": {"$ref": "#/components/schemas/Setting"}}
                        },
                    },
                ),
            }
        },
        "/api/v1/config/{key}": {
            "get": {
                "summary": "One setting",
                "operationId": "getSetting",
                "security": [{"bearer": []}],
                "parameters": [KEY_PARAM],
                "responses": responses("200", {"$ref": "#/components/schemas/Setting"}, "404"),
            },
            "put": {
                "summary": "Set a value (validated against the row's value_schema); creates a new key",
                "operationId": "putSetting",
                "security": [{"bearer": []}],
                "parameters": [KEY_PARAM],
                "requestBody": request_body("SettingIn"),
                "responses": {
                    **responses("200", {"$ref": "#/components/schemas/Setting"}),
                    "201": {
                        "description": "created",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Setting"}}},
                    },
                },
            },
        },
    },
    {"Setting": SETTING, "SettingIn": SETTING_IN},
)
