"""Every advisory-lock key the service takes, spelled once.

Keys are text, hashed by PostgreSQL (``hashtextextended(key, 0)``) into the bigint advisory-lock space,
each under a prefix naming its concept, so two concepts never share a lock by accident.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

import asyncpg

# Migrations take a numeric key of their own (db/migrate.py), unchanged since the first release.
MIGRATIONS = 0x5357_4252_4D49_4752
XACT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"


def job(name: str) -> str:
    """One replica at a time runs a periodic job's tick."""
    return f"job:{name}"


# Work on one thing (a Sentry issue, a CI key, a Linear issue, a pull request) applies one writer at a
# time. The inbox workers' claim takes pg_try_advisory_xact_lock(hashtextextended(INBOX_KEY_PREFIX ||
# order_key, 0)) in SQL (jobs/inbox_worker.py), order keys being ``source:key``: the same lock as
# ``incident(source, key)``, so a batch holds its things' locks from the claim to its commit.
INBOX_KEY_PREFIX = "thing:"


def incident(source: str, key: str) -> str:
    """Deliveries about one incident key (a Sentry issue, a CI key, a Linear issue) apply one at a time."""
    return f"{INBOX_KEY_PREFIX}{source}:{key}"


def cost_budget(agent_id: str) -> str:
    """Costs of one agent crossing its daily budget together alert once."""
    return f"ledger.budget:{agent_id}"


METRICS_ROLLUP = "metrics.rollup_statement"
# Taken in SQL by agent_events_sequence() (1010_bus_sequencer.sql): one sequencer run numbers at a time.
BUS_SEQUENCER = "bus.sequencer"


_held: ContextVar[frozenset[str]] = ContextVar("held_xact_locks", default=frozenset())


@contextlib.contextmanager
def holding(keys: Iterable[str]) -> Iterator[None]:
    """Within the block, ``xact_lock`` of these keys is free: the block's transaction took them (the inbox
    claim) and holds them to its end. A round trip saved per delivery."""
    token = _held.set(frozenset(keys))
    try:
        yield
    finally:
        _held.reset(token)


async def xact_lock(conn: asyncpg.Connection, key: str) -> None:
    """Hold ``key`` until the caller's transaction ends."""
    if key not in _held.get():
        await conn.execute(XACT_LOCK, key)


async def xact_lock_all(conn: asyncpg.Connection, keys: list[str]) -> None:
    """Hold every key until the transaction ends, taken in sorted order so two callers never deadlock."""
    held = _held.get()
    for key in sorted(set(keys) - held):
        await conn.execute(XACT_LOCK, key)
