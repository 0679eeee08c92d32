"""The bus reader's hand-over between a stream reading the table and the live fan-out, and the publish
answers it resolves: exercised on the reader itself, without a database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from domain.bus import events as bus
from domain.bus import fanout


def event(seq: int, targets: list[str] | None = None) -> bus.Event:
    return bus.Event(seq, uuid.uuid4(), "a", "t", f"e.{seq}", {}, targets or [], None, datetime.now(UTC))


async def test_a_stream_goes_live_only_if_the_reader_has_fetched_nothing_above_its_cursor() -> None:
    reader = fanout.Reader()
    subscription = reader.subscribe(bus.Filter(), "service_role")
    reader._fan_out([event(1), event(2)], 2)  # fetched while the stream was still reading the table
    assert not subscription.queue and subscription.behind
    assert not subscription.go_live(1), "seq 2 was fanned out before it was live: it must read the table again"
    assert subscription.go_live(2)
    reader._fan_out([event(3)], 3)
    assert [e.seq for e in subscription.take()[0]] == [3]


async def test_a_slow_subscription_is_dropped_to_the_table_at_its_depth() -> None:
    reader = fanout.Reader()
    subscription = reader.subscribe(bus.Filter(), "service_role")
    assert subscription.go_live(0)
    reader._fan_out([event(n) for n in range(1, fanout.DEPTH + 1)], fanout.DEPTH)
    assert len(subscription.queue) == fanout.DEPTH and not subscription.behind
    reader._fan_out([event(fanout.DEPTH + 1)], fanout.DEPTH + 1)
    assert subscription.behind and not subscription.queue


async def test_a_publish_is_answered_by_the_round_that_fetches_it() -> None:
    reader = fanout.Reader()
    mine, other = event(7), event(8)
    numbered = reader.expect(mine.id)
    reader._fan_out([other], 8)
    assert not numbered.done()
    reader._fan_out([mine], 8)
    async with asyncio.timeout(1):
        assert (await numbered).seq == 7
    assert not reader._numbered
