"""The inbox workers: stored webhook deliveries processed after the answer, in order per key.

A worker claims a batch in one statement (``inbox_claim``, db/migrations/1130): among the oldest
``CANDIDATES`` received rows, those whose ``order_key`` it could take a transaction-scoped advisory lock
for (``pg_try_advisory_xact_lock``; keys another batch holds are skipped) and those without a key, in id
order, ``FOR UPDATE SKIP LOCKED``. A key's rows among the oldest are its oldest, so several workers, in several
replicas, never process one key's deliveries at once nor out of order; a row without a key orders against
nothing. The batch runs in ONE transaction with one commit, first all of it under one savepoint; when
any delivery fails, that is rolled back and each delivery (or a run of consecutive deliveries of one key
that a list-taking callback applies at once, ``Router.add_many``) goes under a savepoint of its own, so a
failing one is rolled back alone and recorded ``failed``/``dead`` (``jobs.inbox``) while the others
commit. A deadlock or serialization failure leaves the delivery ``received`` for the next batch, and the
rest of its key waits with it.

A delivery stored by this process wakes one idle worker here (``Wakeup``); every ``poll_s`` each worker
also looks on its own, for what another replica stored and did not process (it crashed) and for retries.
There is no NOTIFY per insert: PostgreSQL serialises the commits of every notifying transaction on one
lock, which cut the inbox's inserts from ~4,000/s to ~800/s at 32 connections (bench, issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import asyncpg

import logs
from db import locks
from db.errors import TRANSIENT, UNAVAILABLE
from jobs import inbox
from jobs.routing import ManyCallback, Router, WebhookEvent

# Per process. A batch waits on PostgreSQL round trips most of its time, so several overlap; more of them,
# longer, left more backends fighting the answers for two cores: with 6 x 32, the bench's ceiling was
# 1,263-1,375/s and the answer p99 at half of it 23-33 ms; with 4 x 16, 1,480-1,621/s and 24-28 ms at that
# higher half, processing as fast (1,013-1,080 deliveries/s against 965-1,052; scratch runs, issue 13).
BATCH = 16
WORKERS = 4
BUSY_AT = 8  # webhook requests being answered above which only one worker claims (Wakeup)
POLL_S = 1.0
CANDIDATES = 512  # how far past the queue's head a batch looks for keys nobody holds

# The claim's one statement (db/migrations/1130_inbox_claim.sql): the oldest received rows whose keys
# another batch does not hold, with every received row of the keys it takes, FOR UPDATE SKIP LOCKED.
CLAIM = "SELECT * FROM inbox_claim($1, $2, $3, $4)"
DONE = """
UPDATE webhook_deliveries d
SET status = u.status, processed_at = clock_timestamp(), attempts = d.attempts + 1, last_error = NULL,
    next_attempt_at = NULL
FROM unnest($1::bigint[], $2::text[]) AS u(id, status)
WHERE d.id = u.id
"""


class Wakeup:
    """The process's inbox workers' wake-ups. A stored delivery wakes one idle worker, or, when none is
    idle, every busy one (each then looks again after its batch, so none is lost).

    Answers come first: while more than ``busy_at`` webhook requests are being answered, only worker 0
    claims (the others finish their batch and wait), so a burst is stored at the rate of the answer path
    and processed behind it; when the burst falls below the mark, every worker is woken. A closed loop of
    32 senders was answered at 0.93x B2 with one worker against 0.53x with six (``python -m bench run
    --quick``), while deliveries processed per second stayed the same: the two paths share two cores."""

    def __init__(self, workers: int = WORKERS, busy_at: int = BUSY_AT) -> None:
        self.backlog = False  # the last claim came back full: more deliveries wait than a batch holds
        self.events = [asyncio.Event() for _ in range(workers)]
        self.idle: list[int] = []
        self.answering = 0
        self.busy_at = busy_at

    @property
    def busy(self) -> bool:
        return self.answering > self.busy_at

    def may_claim(self, worker: int) -> bool:
        return worker == 0 or not self.busy

    @contextlib.contextmanager
    def answer(self) -> Iterator[None]:
        """Count a webhook request being answered for the block."""
        self.answering += 1
        try:
            yield
        finally:
            self.answering -= 1
            if self.answering == self.busy_at:
                self.all()

    def one(self) -> None:
        if self.busy:
            self.events[0].set()
        elif self.idle:
            self.events[self.idle.pop()].set()
        else:
            self.all()

    def all(self) -> None:
        for event in self.events:
            event.set()

    async def wait(self, worker: int, timeout_s: float) -> None:
        """Until this worker is woken or ``timeout_s`` passes."""
        event = self.events[worker]
        if event.is_set():
            return
        self.idle.append(worker)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):  # not wait_for: 3.11's can swallow a cancellation
                    await event.wait()
        finally:
            if worker in self.idle:
                self.idle.remove(worker)


@dataclass
class Batch:
    outcomes: dict[int, str] = field(default_factory=dict)  # id -> processed | ignored | failed | dead
    waiting: set[str] = field(default_factory=set)  # keys whose next delivery lost a race: left for later


def _runs(rows: Sequence[asyncpg.Record], router: Router) -> list[list[tuple[asyncpg.Record, WebhookEvent | None]]]:
    """Rows grouped by key (id order within a key), each key cut into runs: consecutive deliveries the
    same list-taking callback handles go together, every other delivery alone. A body that does not
    parse is a run of its own (it fails alone)."""
    by_key: dict[object, list[tuple[asyncpg.Record, WebhookEvent | None]]] = {}
    for row in rows:
        try:
            event: WebhookEvent | None = inbox.event_of(row)
        except Exception:  # any unreadable body fails alone, in _apply
            event = None
        by_key.setdefault(row["order_key"] or ("row", row["id"]), []).append((row, event))
    runs: list[list[tuple[asyncpg.Record, WebhookEvent | None]]] = []
    for items in by_key.values():
        current: list[tuple[asyncpg.Record, WebhookEvent | None]] = []
        current_many: ManyCallback | None = None
        for row, event in items:
            many = router.coalescer(event) if event is not None else None
            if current and (many is None or many is not current_many):
                runs.append(current)
                current = []
            current.append((row, event))
            current_many = many
        if current:
            runs.append(current)
    return runs


async def _apply(
    conn: asyncpg.Connection, router: Router, run: list[tuple[asyncpg.Record, WebhookEvent | None]]
) -> str:
    events = [event for _, event in run]
    if any(event is None for event in events):
        inbox.event_of(run[0][0])  # raises the parse error (permanent)
    if len(run) > 1:
        many = router.coalescer(events[0])  # type: ignore[arg-type]
        assert many is not None
        await many(conn, events)  # type: ignore[arg-type]
        return "processed"
    return "processed" if await router.dispatch(conn, events[0]) else "ignored"  # type: ignore[arg-type]


async def _alive(conn: asyncpg.Connection) -> bool:
    if conn.is_closed():
        return False
    try:
        async with asyncio.timeout(5):
            await conn.fetchval(inbox.PING)
    except UNAVAILABLE:
        return False
    return True


async def _one(
    conn: asyncpg.Connection, router: Router, run: list[tuple[asyncpg.Record, WebhookEvent | None]], batch: Batch
) -> bool:
    """Apply a run under a savepoint; record its outcome. False when it failed (or must wait)."""
    key = run[0][0]["order_key"]
    try:
        async with conn.transaction():
            outcome = await _apply(conn, router, run)
    except TRANSIENT as exc:
        logs.event("webhook.processing_deferred", logging.INFO, delivery=run[0][0]["id"], error=repr(exc)[:300])
        if key is not None:
            batch.waiting.add(key)
        return False
    except Exception as exc:
        if isinstance(exc, UNAVAILABLE) and not await _alive(conn):
            raise
        if len(run) > 1:
            return False
        row_id = run[0][0]["id"]
        failed = await conn.fetchrow(
            inbox.FAILED, row_id, f"{type(exc).__name__}: {exc}"[:2000], isinstance(exc, inbox.PERMANENT)
        )
        batch.outcomes[row_id] = failed["status"] if failed else "failed"
        logs.event(
            "webhook.processing_failed",
            logging.WARNING,
            delivery=row_id,
            error=repr(exc)[:500],
            outcome=batch.outcomes[row_id],
            attempts=failed["attempts"] if failed else None,
            next_attempt_at=failed["next_attempt_at"] if failed else None,
        )
        return False
    for row, _ in run:
        batch.outcomes[row["id"]] = outcome
    return True


async def _all_at_once(
    conn: asyncpg.Connection, router: Router, runs: list[list[tuple[asyncpg.Record, WebhookEvent | None]]]
) -> dict[int, str] | None:
    """Every run under ONE savepoint (two statements a batch, not two a delivery); None, with all of it
    rolled back, when any run fails: then each goes under its own savepoint (``_one``)."""
    outcomes: dict[int, str] = {}
    try:
        async with conn.transaction():
            for run in runs:
                outcome = await _apply(conn, router, run)
                outcomes.update((row["id"], outcome) for row, _ in run)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if isinstance(exc, UNAVAILABLE) and not await _alive(conn):
            raise
        return None
    return outcomes


async def drain_once(pool: asyncpg.Pool, router: Router, batch_size: int = BATCH) -> int:
    """Claim and process one batch, with one commit. Returns how many rows it claimed."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(CLAIM, batch_size, CANDIDATES, locks.INBOX_KEY_PREFIX, batch_size)
        if not rows:
            return 0
        runs = _runs(rows, router)
        batch = Batch()
        with locks.holding(locks.INBOX_KEY_PREFIX + r["order_key"] for r in rows if r["order_key"] is not None):
            await _process(conn, router, runs, batch)
        done = [(i, o) for i, o in batch.outcomes.items() if o in ("processed", "ignored")]
        if done:
            await conn.execute(DONE, [i for i, _ in done], [o for _, o in done])
    return len(rows)


async def _process(
    conn: asyncpg.Connection, router: Router, runs: list[list[tuple[asyncpg.Record, WebhookEvent | None]]], batch: Batch
) -> None:
    outcomes = await _all_at_once(conn, router, runs)
    if outcomes is not None:
        batch.outcomes = outcomes
        return
    for run in runs:
        key = run[0][0]["order_key"]
        if key is not None and key in batch.waiting:
            continue
        if not await _one(conn, router, run, batch) and len(run) > 1:
            for single in run:  # the burst failed together: each on its own, so one cannot sink the rest
                if key is not None and key in batch.waiting:
                    break
                await _one(conn, router, [single], batch)


async def drain(pool: asyncpg.Pool, router: Router, batch_size: int = BATCH) -> int:
    """Process batches until none is left to claim now (tests, commands). Returns rows claimed."""
    total = 0
    while (claimed := await drain_once(pool, router, batch_size)) > 0:
        total += claimed
    return total


async def run_worker(pool: asyncpg.Pool, router: Router, wakeup: Wakeup, worker: int, poll_s: float = POLL_S) -> None:
    """Process forever: batches until a claim finds nothing (a key another worker held may have been
    passed over meanwhile), then wait for a wake-up or ``poll_s``."""
    event = wakeup.events[worker]
    while True:
        event.clear()
        try:
            while wakeup.may_claim(worker) and (claimed := await drain_once(pool, router)) > 0:
                wakeup.backlog = claimed == BATCH
            wakeup.backlog = False
        except asyncio.CancelledError:
            raise
        except Exception:
            logs.event("webhook.worker_pass_failed", logging.ERROR, exc_info=True)
        await wakeup.wait(worker, poll_s)
