"""Thread replies of one incident coalesced: a burst is one reply, and a reply whose post may have happened
is adopted on retry with exactly what it carried (what arrived meanwhile goes in the next reply)."""

from __future__ import annotations

import uuid

from domain.incidents import store
from tests.integration.slack.incidents.world import Incidents


async def notes(incidents: Incidents, incident_id: uuid.UUID, texts: list[str]) -> None:
    """Each note queued by its own transaction, as webhooks arriving one after the other queue them."""
    for text in texts:
        async with incidents.pool.acquire() as conn, conn.transaction():
            found = await store.get(conn, incident_id)
            assert found is not None
            await store.tell_note(conn, found, text, f"test:{text}")


async def test_a_burst_of_ten_notes_is_one_reply_in_order(incidents: Incidents) -> None:
    incident = await incidents.open_sentry()
    texts = [f"comment number {i}" for i in range(10)]
    await notes(incidents, incident["id"], texts)
    await incidents.world.drain()

    [reply] = incidents.replies(incident)
    positions = [reply.text.index(text) for text in texts]
    assert positions == sorted(positions), reply.text
    assert reply.text.startswith(f"Incident #{incident['incident_number']}: 10 updates")
    rows = await incidents.pool.fetch("SELECT status, payload, result FROM outbox WHERE kind = 'incident.update'")
    assert [r["status"] for r in rows] == ["done"] * 10
    assert sorted((r["result"] or {}).get("items", 0) for r in rows) == [0] * 9 + [10]


async def test_a_reply_in_doubt_is_adopted_with_what_it_carried(incidents: Incidents) -> None:
    incident = await incidents.open_sentry()
    slack = incidents.world.slack
    slack.drop_after_posting("chat.postMessage")  # posted, but the answer is lost
    await notes(incidents, incident["id"], ["first A", "first B", "first C"])
    await incidents.world.drain()
    assert len(incidents.replies(incident)) == 1

    await notes(incidents, incident["id"], ["later D", "later E"])  # arrive while the first is in doubt
    for _ in range(3):
        await incidents.world.make_due()
        await incidents.world.drain()
    first, second = incidents.replies(incident)
    assert all(t in first.text for t in ("first A", "first B", "first C")) and "later" not in first.text
    assert all(t in second.text for t in ("later D", "later E")) and "first" not in second.text
    assert len(incidents.replies(incident)) == 2, "the reply in doubt was adopted, not posted twice"
    pending = await incidents.pool.fetchval("SELECT count(*) FROM outbox WHERE status <> 'done'")
    assert pending == 0
