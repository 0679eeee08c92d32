"""Replays (issue 11, defect 7): the same signed body under a new delivery id has no second effect.

The delivery-id headers are not signed, so the body's sha256 per source is the replay key; Sentry's
Sentry-Hook-Timestamp must be within 60 s (like Linear's webhookTimestamp).
"""

from __future__ import annotations

import time
import uuid

from tests.integration.webhooks.conftest import World, fixture_bytes, linear_body
from tests.integration.webhooks.conftest import world as world
from tests.integration.webhooks.conftest import world_factory as world_factory


async def test_three_copies_of_one_signed_sentry_body_under_new_request_ids_count_once(world: World) -> None:
    assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
    await world.drain()
    error = fixture_bytes("sentry", "error.created")
    first = await world.send.sentry(error, "error", request_id=uuid.uuid4().hex)
    assert first.status == 200 and "duplicate" not in await first.json()
    for _ in range(3):
        again = await world.send.sentry(error, "error", request_id=uuid.uuid4().hex)
        assert again.status == 200 and (await again.json())["duplicate"] is True
    assert await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings") == 2  # created + 1 error
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'error'") == 1


async def test_the_same_body_from_another_source_is_not_a_replay(world: World) -> None:
    body = linear_body("issue.create")
    assert (await world.send.linear(body)).status == 200
    replay = await world.send.linear(body)
    assert (await replay.json())["duplicate"] is True
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_sentry_hook_timestamp_outside_60_s_or_absurd_is_refused_401(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    now = int(time.time())
    for stamp in (str(now - 61), str(now + 61), "1e18", "-1000000000000000000", "1000000000000000000", "", "²"):
        headers = {"Sentry-Hook-Timestamp": stamp}
        response = await world.send.sentry(body, "issue", headers=headers)
        assert response.status == 401, stamp
        assert "Sentry-Hook-Timestamp" in (await response.json())["error"]
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    assert (await world.send.sentry(body, "issue", headers={"Sentry-Hook-Timestamp": str(now - 50)})).status == 200


async def test_linear_webhook_timestamp_of_plus_minus_1e18_is_refused_401(world: World) -> None:
    for stamp in (10**18, -(10**18)):
        response = await world.send.linear(linear_body("issue.create", now_ms=stamp))
        assert response.status == 401 and "webhookTimestamp" in (await response.json())["error"]
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
