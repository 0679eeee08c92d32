"""Runtime settings in ``agent_swarm_config``: one JSON value per key, validated by its value_schema.

Keys are dotted by area (``linear.routing``, ``approvals.approvers`` ...). Each key the service reads is
seeded by a migration with a description, a default and a JSON Schema. ``get`` reads a value for the
service's own use; ``put`` writes one as the caller: a value must fit its row's ``value_schema`` (JSON
Schema 2020-12), and a new key may bring its own schema, checked first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg
import jsonschema

GET = "SELECT config_value FROM agent_swarm_config WHERE config_key = $1"


async def get(conn: asyncpg.Connection | asyncpg.Pool, key: str, default: Any = None) -> Any:
    """The value of ``key``, or ``default`` when the row is missing or its value is JSON null."""
    value = await conn.fetchval(GET, key)
    return default if value is None else value


COLUMNS = "config_key, config_value, description, value_schema, updated_by, created_at, updated_at"
LIST = f"SELECT {COLUMNS} FROM agent_swarm_config ORDER BY config_key"
ROW = f"SELECT {COLUMNS} FROM agent_swarm_config WHERE config_key = $1"
# FOR UPDATE needs the UPDATE privilege: a role that may not write is refused here (403), not later.
LOCK = "SELECT value_schema FROM agent_swarm_config WHERE config_key = $1 FOR UPDATE"
UPDATE = f"""
UPDATE agent_swarm_config SET config_value = coalesce($2, 'null'::jsonb), updated_by = $3
WHERE config_key = $1 RETURNING {COLUMNS}
"""
# Two writers of one new key: the second waits for the first to commit, inserts nothing, and updates.
INSERT = f"""
INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema, updated_by)
VALUES ($1, coalesce($2, 'null'::jsonb), $3, $4, $5)
ON CONFLICT (config_key) DO NOTHING
RETURNING {COLUMNS}
"""


class InvalidValue(ValueError):
    """The value (or a new key's schema) was refused; the message is the validator's."""


@dataclass(frozen=True)
class Written:
    row: dict[str, Any]
    created: bool


def validate(value: Any, schema: Any) -> None:
    """Raise InvalidValue with the validator's message unless ``value`` fits ``schema``. Pure."""
    if schema is None:
        return
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        raise InvalidValue(f"value does not fit the setting's value_schema: {error.message}")


async def list_all(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(LIST)]


async def row(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(ROW, key)
    return None if row is None else dict(row)


async def put(
    conn: asyncpg.Connection,
    key: str,
    value: Any,
    *,
    updated_by: str | None,
    description: str | None = None,
    value_schema: dict[str, Any] | None = None,
) -> Written:
    """Set ``key`` (validated against its stored schema), or create it with ``description``/``value_schema``."""
    existing = await conn.fetchrow(LOCK, key)
    if existing is not None:
        return await _update(conn, key, value, existing["value_schema"], updated_by)
    if value_schema is not None:
        try:
            jsonschema.Draft202012Validator.check_schema(value_schema)
            validate(value, value_schema)
        except jsonschema.SchemaError as exc:
            raise InvalidValue(f"value_schema is not a valid JSON Schema: {exc.message}") from exc
        except (re.error, TypeError, ValueError) as exc:  # e.g. a pattern Python cannot compile
            if isinstance(exc, InvalidValue):
                raise
            raise InvalidValue(f"value_schema cannot be used: {exc}") from exc
    else:
        validate(value, value_schema)
    row = await conn.fetchrow(INSERT, key, value, description, value_schema, updated_by)
    if row is None:  # created meanwhile by a concurrent writer: now it is an update, under that row's schema
        existing = await conn.fetchrow(LOCK, key)
        return await _update(conn, key, value, existing["value_schema"], updated_by)
    return Written(dict(row), created=True)


async def _update(conn: asyncpg.Connection, key: str, value: Any, schema: Any, updated_by: str | None) -> Written:
    validate(value, schema)
    return Written(dict(await conn.fetchrow(UPDATE, key, value, updated_by)), created=False)
