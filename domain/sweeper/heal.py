"""Apply a transition the sweeper found missed, through the domain function its webhook would have called,
and tell whether it changed anything: a snapshot of the issue's incidents, fix rows and mappings before
and after, in one transaction. An incident it changed gets a line in its thread saying so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

import logs
from db import locks
from db.transactions import run_in_transaction
from domain.incidents import store as incidents
from domain.sweeper import store

Apply = Callable[[asyncpg.Connection], Awaitable[object]]


async def heal(
    pool: asyncpg.Pool,
    *,
    run_id: int,
    source: str,
    key: str,
    what: str,
    apply: Apply,
    linear: str | None = None,
    sentry: str | None = None,
) -> bool:
    """Run ``apply`` under the issue's lock (the one its webhook takes); True when it changed a row."""

    async def work(conn: asyncpg.Connection) -> bool:
        await locks.xact_lock(conn, locks.incident(source, key))
        before = await store.snapshot(conn, linear=linear, sentry=sentry)
        await apply(conn)
        after = await store.snapshot(conn, linear=linear, sentry=sentry)
        if after == before:
            return False
        for incident_id in before.changed_incidents(after):
            incident = await incidents.get(conn, incident_id)
            if incident is not None:
                note = f"Healed by the delivery-gap sweeper: {what} (its {source} webhook never arrived)."
                await incidents.tell_note(conn, incident, note, f"sweeper:{run_id}:{source}:{key}")
        return True

    healed = await run_in_transaction(pool, work, name="sweeper.heal")
    if healed:
        logs.event("sweeper.healed", run=run_id, source=source, key=key)
    return healed
