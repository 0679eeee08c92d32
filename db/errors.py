"""One classification of database failures, used by every edge and worker.

``UNAVAILABLE``: the database cannot be reached or dropped the connection (answer 503, retry later).
``TRANSIENT``: a transaction lost a race (deadlock, serialization failure); running it again succeeds.
"""

from __future__ import annotations

import asyncio

import asyncpg

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE)
