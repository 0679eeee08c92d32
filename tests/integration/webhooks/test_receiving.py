"""The receiving pipeline: order of checks, nothing stored on bad input, the inbox settling duplicates
(also two copies at once and a redelivery hours later), 503 when the database is down."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from handlers.keys import POOL
from jobs import inbox
from tests.integration.webhooks.conftest import (
    GITHUB_SECRET,
    SENTRY_SECRET,
    World,
    fixture_bytes,
    linear_body,
    sign,
)

COUNT = "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM infrastructure_incidents)"


async def assert_nothing_stored(world: World) -> None:
    assert await world.pool.fetchval(COUNT) == 0
    assert await world.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_flipped_signature_byte_is_401_and_nothing_stored(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    good = sign(body, SENTRY_SECRET)
    flipped = good[:10] + ("0" if good[10] != "0" else "1") + good[11:]
    response = await world.send.sentry(body, "issue", headers={"Sentry-Hook-Signature": flipped})
    assert response.status == 401 and "signature" in (await response.json())["error"]
    await assert_nothing_stored(world)


async def test_body_changed_after_signing_is_401(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    signature = sign(body, SENTRY_SECRET)
    reserialised = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    response = await world.send.sentry(reserialised, "issue", headers={"Sentry-Hook-Signature": signature})
    assert response.status == 401
    await assert_nothing_stored(world)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing header
        {"X-Hub-Signature": "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"},  # only the SHA-1 one
        {"X-Hub-Signature-256": "sha1={digest}"},  # wrong scheme
        {"X-Hub-Signature-256": "{digest}"},  # no scheme
        {"X-Hub-Signature-256": "sha256=" + "z" * 64},  # not hex
        {"X-Hub-Signature-256": "sha256={digest}00"},  # wrong length
    ],
)
async def test_bad_github_signature_headers_are_401(world: World, headers: dict[str, str]) -> None:
    body = fixture_bytes("github", "ping")
    digest = sign(body, GITHUB_SECRET)
    sent = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    sent.update({k: v.format(digest=digest) for k, v in headers.items()})
    response = await world.client.post("/webhooks/github", data=body, headers=sent)
    assert response.status == 401, await response.text()
    await assert_nothing_stored(world)


async def test_non_hex_sentry_signature_is_401(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    response = await world.send.sentry(body, "issue", headers={"Sentry-Hook-Signature": "g" * 64})
    assert response.status == 401
    await assert_nothing_stored(world)


async def test_stale_linear_timestamp_is_401(world: World) -> None:
    body = linear_body("issue.update", now_ms=int(time.time() * 1000) - 61_000)
    response = await world.send.linear(body)
    assert response.status == 401 and "webhookTimestamp" in (await response.json())["error"]
    future = linear_body("issue.update", now_ms=int(time.time() * 1000) + 61_000)
    assert (await world.send.linear(future)).status == 401
    await assert_nothing_stored(world)


async def test_recorded_linear_timestamp_unchanged_is_stale(world: World) -> None:
    response = await world.send.linear(fixture_bytes("linear", "issue.update"))
    assert response.status == 401
    await assert_nothing_stored(world)


async def test_malformed_json_is_400_after_a_good_signature(world: World) -> None:
    body = b'{"action": "created", "data": '
    response = await world.send.sentry(body, "issue")
    assert response.status == 400 and "JSON" in (await response.json())["error"]
    response = await world.send.github(b"[1, 2, 3]", "ping")
    assert response.status == 400
    await assert_nothing_stored(world)


async def test_missing_event_header_is_400(world: World) -> None:
    body = fixture_bytes("github", "ping")
    sent = {"X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": "sha256=" + sign(body, GITHUB_SECRET)}
    response = await world.client.post("/webhooks/github", data=body, headers=sent)
    assert response.status == 400
    await assert_nothing_stored(world)


async def test_oversized_body_is_413_even_when_signed(world: World) -> None:
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await world.send.sentry(body, "issue")
    assert response.status == 413 and "error" in await response.json()
    await assert_nothing_stored(world)


async def test_oversized_chunked_body_without_length_is_413(world: World) -> None:
    async def chunks() -> Any:
        for _ in range(17):
            yield b"x" * 65536

    headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": "0" * 64, "Request-ID": "big"}
    response = await world.client.post("/webhooks/sentry", data=chunks(), headers=headers)
    assert response.status == 413
    await assert_nothing_stored(world)


async def test_unknown_event_is_stored_and_202(world: World) -> None:
    body = fixture_bytes("github", "ping")
    response = await world.send.github(body, "star", delivery="star-1")
    assert response.status == 202
    assert (await response.json())["ok"] is True
    row = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "ignored" and row["event_type"] == "star" and bytes(row["body"]) == body
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 0


async def test_ping_answers_200(world: World) -> None:
    response = await world.send.github(fixture_bytes("github", "ping"), "ping", delivery="ping-1")
    assert response.status == 200 and await response.json() == {"ok": True, "delivery": "ping-1", "queued": True}


async def test_two_identical_deliveries_racing_have_one_effect(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    answers = await asyncio.gather(*(world.send.sentry(body, "issue", request_id="r" * 32) for _ in range(4)))
    bodies: list[dict[str, Any]] = [await a.json() for a in answers]
    assert [a.status for a in answers] == [200] * 4
    assert sum(1 for b in bodies if b.get("duplicate")) == 3
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    assert await world.pool.fetchval("SELECT count(*) FROM fix_metrics") == 1
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'linear.create_issue'") == 1


async def test_same_issue_under_two_delivery_ids_at_once_opens_one_incident(world: World) -> None:
    doc = json.loads(fixture_bytes("sentry", "issue.created"))
    # Three serialisations of one issue: different bytes, so none is a replay of another.
    bodies = [
        json.dumps(doc).encode(),
        json.dumps(doc, separators=(",", ":")).encode(),
        json.dumps(doc, indent=1).encode(),
    ]
    answers = await asyncio.gather(*(world.send.sentry(body, "issue") for body in bodies))
    assert [a.status for a in answers] == [200] * 3
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 3
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_redelivery_hours_later_is_a_duplicate(world: World) -> None:
    body = fixture_bytes("github", "workflow_run.failure")
    delivery = "bfe22520-466a-11ed-8dae-4cb245a6a856"
    assert (await world.send.github(body, "workflow_run", delivery=delivery)).status == 200
    await world.pool.execute("UPDATE webhook_deliveries SET received_at = now() - interval '6 hours'")
    await world.drain()
    response = await world.send.github(body, "workflow_run", delivery=delivery)
    assert response.status == 200
    assert await response.json() == {"ok": True, "duplicate": True, "delivery": delivery}
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    incident = await world.pool.fetchrow("SELECT error_details FROM infrastructure_incidents")
    assert len(incident["error_details"]["runs"]) == 1
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0


async def test_sentry_delivery_without_request_id_is_keyed_by_its_body(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    for _ in range(2):
        sent = {
            "Sentry-Hook-Resource": "issue",
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": sign(body, SENTRY_SECRET),
        }
        response = await world.client.post("/webhooks/sentry", data=body, headers=sent)
        assert response.status == 200
    await world.send.drain()
    delivery_id = await world.pool.fetchval("SELECT delivery_id FROM webhook_deliveries")
    assert delivery_id.startswith("sha256:") and await world.pool.fetchval(COUNT) == 2


async def test_database_down_while_storing_is_503(world: World) -> None:
    await world.client.app[POOL].close()
    response = await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    assert response.status == 503 and "retry" in (await response.json())["error"]
    await assert_nothing_stored(world)


async def test_a_resent_delivery_left_unprocessed_by_a_crash_is_processed_once(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    row_id = await inbox.store(
        world.pool,
        source="sentry",
        delivery_id="left-behind-1",
        event_type="issue",
        action="created",
        headers={},
        body=body,
        order_key="sentry:1117540176",
        handled=True,
    )
    await world.pool.execute(
        "UPDATE webhook_deliveries SET received_at = now() - interval '10 s' WHERE id = $1", row_id
    )
    response = await world.send.sentry(body, "issue", request_id="left-behind-1")  # then the workers run
    assert response.status == 200 and (await response.json())["duplicate"] is True
    row = await world.pool.fetchrow("SELECT status, attempts FROM webhook_deliveries WHERE id = $1", row_id)
    assert (row["status"], row["attempts"]) == ("processed", 1), "the workers take every received row"
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
