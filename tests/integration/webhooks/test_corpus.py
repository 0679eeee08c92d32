"""Every stored payload of the senders' public corpora (tests/fixtures/<source>/corpus/ and the recorded
fixtures beside it), signed as its sender signs it and posted: a 2xx answer, and no delivery left failed.

The file name says what the sender's header would: ``<event or resource>.<action>....json``; Linear's
event is the payload's ``type``. The only change made to a body is Linear's ``webhookTimestamp`` (set to
now, as a live delivery carries it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.integration.webhooks.conftest import World, linear_now

NOT_DELIVERIES = {"signing_vector.json"}


def corpus(source: str) -> list[Path]:
    top = [p for p in (FIXTURES / source).glob("*.json") if p.name not in NOT_DELIVERIES]
    return sorted([*top, *(FIXTURES / source / "corpus").glob("*.json")])


CASES = [(source, path.name, path.read_bytes()) for source in ("github", "sentry", "linear") for path in corpus(source)]


def test_the_corpus_is_there() -> None:
    counts = {source: sum(1 for s, _, _ in CASES if s == source) for source in ("github", "sentry", "linear")}
    assert counts["github"] >= 60 and counts["sentry"] >= 20 and counts["linear"] >= 5, counts


@pytest.mark.parametrize(("source", "name", "body"), CASES, ids=[f"{s}/{n}" for s, n, _ in CASES])
async def test_corpus_payload_is_accepted_and_processed(world: World, source: str, name: str, body: bytes) -> None:
    event = name.split(".")[0]
    if source == "github":
        response = await world.send.github(body, event)
    elif source == "sentry":
        response = await world.send.sentry(body, event)
    else:
        body = linear_now(body)
        response = await world.send.linear(body, event=json.loads(body)["type"])
    assert 200 <= response.status < 300, await response.text()
    rows = await world.pool.fetch("SELECT status, last_error FROM webhook_deliveries")
    assert [r["status"] for r in rows] in (["processed"], ["ignored"]), [dict(r) for r in rows]
    await world.drain()
    dead = await world.pool.fetch("SELECT kind, last_error FROM outbox WHERE status = 'dead'")
    assert not dead, [dict(r) for r in dead]
