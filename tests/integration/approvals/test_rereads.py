"""Long-polls woken together re-read together: every caller gets its own request's row."""

from __future__ import annotations

import asyncio
import uuid

from domain.approvals.reads import Rereads
from tests.integration.approvals.conftest import Harness


async def test_many_callers_at_once_each_get_their_row(harness: Harness) -> None:
    ids = [uuid.UUID((await harness.create(action_type=f"scale_{n}"))["id"]) for n in range(12)]
    missing = uuid.uuid4()
    asked = [*ids, *ids[:4], missing]  # some asked twice, one that does not exist
    rereads = Rereads()
    answers = await asyncio.gather(*(rereads.get(harness.pool, i) for i in asked))
    assert [a.id if a else None for a in answers] == [*ids, *ids[:4], None]
    assert (await rereads.get(harness.pool, ids[0])) is not None, "a later ask starts a new read"
