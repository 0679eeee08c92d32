"""Runtime settings (``agent_swarm_config``) over HTTP. A value must validate against its row's
``value_schema`` (JSON Schema); ``updated_by`` is the token's subject; the trigger keeps ``updated_at``."""

from __future__ import annotations

import re

from aiohttp import web

from domain import settings
from handlers.api import document
from handlers.api.auth import as_caller, caller
from handlers.api.bodies import (
    bad_request,
    created,
    json_body,
    not_found,
    ok,
    param,
    request_body,
    responses,
)

routes = web.RouteTableDef()

KEY_PATTERN = "^[A-Za-z0-9_.:-]{1,200}$"
KEY = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
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


def _key(request: web.Request) -> str:
    key = request.match_info["key"]
    # fullmatch: the schema's "$" (re.search) also matches before a final newline, "approvals.approvers\n"
    if not KEY.fullmatch(key):
        raise bad_request(f"config key must match {KEY_PATTERN} (letters, digits and _ . : -)")
    return key


@routes.get("/api/v1/config")
async def listing(request: web.Request) -> web.Response:
    async with as_caller(request) as conn:
        rows = await settings.list_all(conn)
    return ok({"settings": rows})


@routes.get("/api/v1/config/{key}")
async def get(request: web.Request) -> web.Response:
    key = _key(request)
    async with as_caller(request) as conn:
        row = await settings.row(conn, key)
    return ok(row) if row else not_found(f"setting {key!r}")


@routes.put("/api/v1/config/{key}")
async def put(request: web.Request) -> web.Response:
    key = _key(request)
    body = await json_body(request, SETTING_IN)
    try:
        async with as_caller(request) as conn:
            written = await settings.put(
                conn,
                key,
                body["value"],
                updated_by=caller(request).subject,
                description=body.get("description"),
                value_schema=body.get("value_schema"),
            )
    except settings.InvalidValue as exc:
        raise bad_request(str(exc)) from exc
    return created(written.row) if written.created else ok(written.row)


def setup(app: web.Application) -> None:
    app.add_routes(routes)


KEY_PARAM = param("key", {"type": "string", "pattern": KEY_PATTERN}, where="path")
OPENAPI = document(
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
