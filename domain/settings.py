"""Runtime settings in ``agent_swarm_config``: one JSON value per key, validated by its value_schema.

Keys are dotted by area (``linear.routing``, ``approvals.approvers`` ...). Each key the service reads is
seeded by a migration with a description, a default and a JSON Schema.
"""

from __future__ import annotations

from typing import Any

import asyncpg

GET = "SELECT config_value FROM agent_swarm_config WHERE config_key = $1"


async def get(conn: asyncpg.Connection | asyncpg.Pool, key: str, default: Any = None) -> Any:
    """The value of ``key``, or ``default`` when the row is missing or its value is JSON null."""
    value = await conn.fetchval(GET, key)
    return default if value is None else value
