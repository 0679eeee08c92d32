"""The agents' list endpoints on millions of rows: first page and a deep page (keyset cursor), by index.

    nice -n 10 .venv/bin/python bench/data_scale.py [--incidents 1000000] [--actions 1000000] [--coding 200000]
        [--events 10000000] [--approvals 200000] [--runs 50] [--events-only] [--bypassrls] [--data-dir DIR]
    (DATABASE_URL, else embedded PostgreSQL; DIR keeps a loaded database and is reused when its row counts
    match; ``--events 1000000`` with a DIR of its own for a quick check)

Loads the rows with generate_series (incidents over ~2 years, 90% resolved, 50 services at 2% each plus
"checkout" at 10% and "ledger" at 0.1%; actions of 100 agents over a year; coding requests), then times
each list query exactly as the endpoint runs it (the domain function, in a transaction as service_role
with its claims, set by handlers/api/auth.py's AS_CALLER), first page and a page deep behind a cursor,
``--runs`` times each: p50 and p99. The
statements the endpoints ran before issue 13 are timed on the first page for comparison. Every new
statement's ``EXPLAIN (ANALYZE, BUFFERS)`` goes into bench/results/data_scale-<time>.txt, and the run
says whether any plan holds a sequential scan. ``--bypassrls`` runs it with service_role bypassing row
level security, as on Supabase (the seed's policy qual is otherwise applied to every row, and keeps
``@>`` from being an index condition). Events and approvals: bench/scale_events.py. The run also
measures the shared buffers one insert touches by the shape of ``idx_agent_events_type`` (200k rows of a type).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import scale_events, scale_rows
from config import Config, Secret
from db import connect, embedded, migrate
from domain.bus import events as bus
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import Status as CodingStatus
from domain.incidents import store as incidents
from domain.ledger import actions
from handlers.api.auth import AS_CALLER

RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
PAGE = 100
OLD_INCIDENTS = """
SELECT * FROM infrastructure_incidents
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR severity = $2)
  AND ($3::text IS NULL OR $3 = ANY(affected_services))
ORDER BY created_at DESC, incident_number DESC
LIMIT $4
"""
OLD_ACTIONS = """
SELECT * FROM agent_actions
WHERE ($1::text IS NULL OR agent_name = $1) AND ($2::timestamptz IS NULL OR created_at >= $2)
ORDER BY created_at DESC, id
LIMIT $3
"""
OLD_CODING = f"""
SELECT {coding_requests.COLUMNS} FROM coding_requests
WHERE ($1::text IS NULL OR status = $1)
ORDER BY created_at DESC, request_number DESC
LIMIT $2
"""
CLAIMS = ("service_role", json.dumps({"role": "service_role", "sub": "bench"}))  # as handlers/api/auth.py's


class Case:
    """One list query: the endpoint's domain call, and the statement and arguments it runs (for EXPLAIN)."""

    def __init__(self, name: str, kind: str, filters: dict[str, Any]) -> None:
        self.name, self.kind, self.filters = name, kind, filters

    def statement(self, before: tuple[datetime, Any] | None) -> tuple[str, list[Any]]:
        f = self.filters
        if self.kind == "incidents":
            args = [f[k] for k in ("status", "severity", "service") if f.get(k) is not None]
            combo = (*(f.get(k) is not None for k in ("status", "severity", "service")), before is not None)
            return incidents.LIST[combo], [*args, *(before or ()), PAGE + 1]
        if self.kind == "actions":
            args = [f[k] for k in ("agent", "since") if f.get(k) is not None]
            combo = (f.get("agent") is not None, f.get("since") is not None, before is not None)
            return actions.LIST[combo], [*args, *(before or ()), PAGE + 1]
        status = f.get("status")
        args = [*(before or ()), *([status] if status else [])]
        return coding_requests.LIST[(status is not None, before is not None)], [*args, PAGE + 1]

    def call(self, conn: asyncpg.Connection, before: tuple[datetime, Any] | None) -> Awaitable[list[Any]]:
        f = self.filters
        if self.kind == "incidents":
            return incidents.search(
                conn,
                status=f.get("status"),
                severity=f.get("severity"),
                service=f.get("service"),
                before=before,
                limit=PAGE + 1,
            )
        if self.kind == "actions":
            return actions.recent(conn, f.get("agent"), f.get("since"), PAGE + 1, before)
        status = CodingStatus(f["status"]) if f.get("status") else None
        return coding_requests.list_requests(conn, status, PAGE + 1, before)

    def old(self) -> tuple[str, list[Any]]:
        f = self.filters
        if self.kind == "incidents":
            return OLD_INCIDENTS, [f.get("status"), f.get("severity"), f.get("service"), PAGE]
        if self.kind == "actions":
            return OLD_ACTIONS, [f.get("agent"), f.get("since"), PAGE]
        return OLD_CODING, [f.get("status"), PAGE]

    def key(self) -> tuple[str, str]:
        table = {"incidents": "infrastructure_incidents", "actions": "agent_actions", "coding": "coding_requests"}
        tiebreak = {"incidents": "incident_number", "actions": "id", "coding": "request_number"}
        return table[self.kind], tiebreak[self.kind]


CASES = [
    Case("incidents", "incidents", {}),
    Case("incidents ?status=detected", "incidents", {"status": "detected"}),
    Case("incidents ?status=resolved", "incidents", {"status": "resolved"}),
    Case("incidents ?severity=critical", "incidents", {"severity": "critical"}),
    Case("incidents ?service=checkout (10%)", "incidents", {"service": "checkout"}),
    Case("incidents ?service=svc-7 (2%)", "incidents", {"service": "svc-7"}),
    Case("incidents ?service=ledger (0.1%)", "incidents", {"service": "ledger"}),
    Case("incidents ?status=detected&severity=high", "incidents", {"status": "detected", "severity": "high"}),
    Case("actions", "actions", {}),
    Case("actions ?agent=agent-42", "actions", {"agent": "agent-42"}),
    Case("actions ?since=-30d", "actions", {"since": NOW - timedelta(days=30)}),
    Case("actions ?agent=agent-42&since=-30d", "actions", {"agent": "agent-42", "since": NOW - timedelta(days=30)}),
    Case("coding-requests", "coding", {}),
    Case("coding-requests ?status=pending", "coding", {"status": "pending"}),
    Case("coding-requests ?status=completed", "coding", {"status": "completed"}),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(pool: asyncpg.Pool, runs: int, fn: Callable[[asyncpg.Connection], Awaitable[Any]]) -> list[float]:
    """``fn`` ``runs`` times on one connection (its prepared statements cached, as in the service), each in a
    transaction as service_role; only the list call is timed."""
    out = []
    async with pool.acquire() as conn:
        for _ in range(runs):
            async with conn.transaction():
                await conn.execute(AS_CALLER, *CLAIMS)
                started = time.perf_counter()
                await fn(conn)
                out.append((time.perf_counter() - started) * 1000)
    return out


async def deep_cursor(conn: asyncpg.Connection, case: Case) -> tuple[datetime, Any] | None:
    """The sort key halfway down the case's rows (at most 500,000 rows deep)."""
    sql, args = case.statement(None)
    _, tiebreak = case.key()
    ordered = sql.rsplit(" LIMIT ", 1)[0]
    total = await conn.fetchval(f"SELECT count(*) FROM ({ordered}) s", *args[:-1])
    depth = min(total // 2, 500_000)
    row = await conn.fetchrow(f"SELECT created_at, {tiebreak} FROM ({ordered} OFFSET {depth} LIMIT 1) s", *args[:-1])
    return (row[0], row[1]) if row else None


async def measure_events(pool: asyncpg.Pool, runs: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Each events case at three cursors (the first page, far back, near the head); approvals' first pages."""
    results, plans = [], []
    async with pool.acquire() as conn:
        positions = await scale_events.event_positions(conn)
        rare = await scale_events.a_correlation(conn, positions["far back (after=n/10)"] * 10)
    for case in scale_events.EVENT_CASES:
        if case.where.correlation_id == uuid.UUID(int=0):
            case.where = bus.Filter(correlation_id=rare)
        row: dict[str, Any] = {"case": case.name, "seq_scan": False}
        for label, after in positions.items():
            ms = await timed(pool, runs, lambda c, case=case, after=after: case.call(c, after))
            async with pool.acquire() as conn:
                plan = await explain_sql(conn, *case.statement(after))
            key = label.split(" (")[0].replace(" ", "_")
            row[f"{key}_p50_ms"], row[f"{key}_p99_ms"] = round(pct(ms, 50), 3), round(pct(ms, 99), 3)
            row["seq_scan"] = row["seq_scan"] or "Seq Scan" in plan
            plans += [f"== {case.name}: {label}", plan]
        results.append(row)
        print(
            f"{case.name:<44} "
            + "  ".join(
                f"{k.split(' (')[0]} p50 {row[k.split(' (')[0].replace(' ', '_') + '_p50_ms']:>6.2f} "
                f"p99 {row[k.split(' (')[0].replace(' ', '_') + '_p99_ms']:>6.2f}"
                for k in positions
            )
            + f"  seq scan: {'YES' if row['seq_scan'] else 'no'}",
            flush=True,
        )
    for acase in scale_events.APPROVAL_CASES:
        sql, args = acase.statement()
        ms = await timed(pool, runs, lambda c, sql=sql, args=args: c.fetch(sql, *args))
        async with pool.acquire() as conn:
            plan = await explain_sql(conn, sql, args)
        row = {"case": acase.name, "first_p50_ms": round(pct(ms, 50), 3), "first_p99_ms": round(pct(ms, 99), 3)}
        row["seq_scan"] = "Seq Scan" in plan
        results.append(row)
        print(
            f"{acase.name:<44} first p50 {row['first_p50_ms']:>7.2f} p99 {row['first_p99_ms']:>7.2f}  "
            f"seq scan: {'YES' if row['seq_scan'] else 'no'}",
            flush=True,
        )
        plans += [f"== {acase.name}: first page", plan]
    return results, plans


async def explain_sql(conn: asyncpg.Connection, sql: str, args: list[Any]) -> str:
    async with conn.transaction():
        await conn.execute(AS_CALLER, *CLAIMS)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def explain(conn: asyncpg.Connection, case: Case, before: tuple[datetime, Any] | None) -> str:
    sql, args = case.statement(before)
    async with conn.transaction():
        await conn.execute(AS_CALLER, *CLAIMS)
        await conn.execute(incidents.INDEX_PLANS)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def measure(pool: asyncpg.Pool, runs: int, old_runs: int) -> tuple[list[dict[str, Any]], list[str]]:
    results, plans = [], []
    async with pool.acquire() as conn:
        cursors = {case.name: await deep_cursor(conn, case) for case in CASES}
    for case in CASES:
        deep = cursors[case.name]
        first = await timed(pool, runs, lambda c, case=case: case.call(c, None))
        deeper = await timed(pool, runs, lambda c, case=case, deep=deep: case.call(c, deep))
        sql, args = case.old()
        old = await timed(pool, old_runs, lambda c, sql=sql, args=args: c.fetch(sql, *args))
        async with pool.acquire() as conn:
            plan_first, plan_deep = await explain(conn, case, None), await explain(conn, case, deep)
        row = {
            "case": case.name,
            "first_p50_ms": round(pct(first, 50), 3),
            "first_p99_ms": round(pct(first, 99), 3),
            "deep_p50_ms": round(pct(deeper, 50), 3),
            "deep_p99_ms": round(pct(deeper, 99), 3),
            "before_first_p50_ms": round(pct(old, 50), 3),
            "seq_scan": "Seq Scan" in plan_first or "Seq Scan" in plan_deep,
        }
        results.append(row)
        print(
            f"{case.name:<44} first p50 {row['first_p50_ms']:>7.2f} p99 {row['first_p99_ms']:>7.2f}  "
            f"deep p50 {row['deep_p50_ms']:>7.2f} p99 {row['deep_p99_ms']:>7.2f}  "
            f"before p50 {row['before_first_p50_ms']:>8.2f} ms  seq scan: {'YES' if row['seq_scan'] else 'no'}",
            flush=True,
        )
        plans += [f"== {case.name}: first page", plan_first, f"== {case.name}: deep page (cursor {deep})", plan_deep]
    return results, plans


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    given = os.environ.get("DATABASE_URL") or None
    config = Config(database_url=Secret(given) if given else None, data_dir=data_dir)
    async with embedded.database_url(config) as dsn:
        pool = await connect.create_pool(dsn, min_size=1, max_size=2, command_timeout=3600)
        try:
            async with pool.acquire() as conn:
                await migrate.migrate(conn)
                took = await scale_rows.load(conn, args.incidents, args.actions, args.coding, NOW)
                took["events"] = await scale_events.load_events(conn, args.events, NOW)
                took["approvals"] = await scale_events.load_approvals(conn, args.approvals, NOW)
                per_insert = await scale_events.insert_cost(conn)
                print(f"shared buffers per insert at 200k rows of one type: {per_insert}", flush=True)
                await conn.execute(f"ALTER ROLE service_role {'BYPASSRLS' if args.bypassrls else 'NOBYPASSRLS'}")
            try:
                results, plans = await measure(pool, args.runs, args.old_runs) if not args.events_only else ([], [])
                more, more_plans = await measure_events(pool, args.runs)
                results, plans = results + more, plans + more_plans
            finally:
                await pool.execute("ALTER ROLE service_role NOBYPASSRLS")
        finally:
            await pool.close()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = RESULTS / f"data_scale-{stamp}.txt"
    met = all(v <= 10 for r in results for k, v in r.items() if k.endswith("_p50_ms") and "before" not in k)
    scans = [r["case"] for r in results if r["seq_scan"]]
    summary = {
        "rows": {
            "incidents": args.incidents,
            "actions": args.actions,
            "coding_requests": args.coding,
            "agent_events": args.events,
            "approval_requests": args.approvals,
        },
        "buffers_per_insert_200k_of_one_type": per_insert,
        "load_s": took,
        "runs": args.runs,
        "service_role_bypassrls": args.bypassrls,
        "results": results,
        "goal_p50_le_10ms": met,
        "seq_scans": scans,
    }
    report.write_text(json.dumps(summary, indent=2) + "\n\n" + "\n\n".join(plans) + "\n")
    print(f"every first and deep page p50 <= 10 ms: {'yes' if met else 'NO'}; sequential scans: {scans or 'none'}")
    print(f"report with EXPLAIN (ANALYZE, BUFFERS): {report}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--coding", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--approvals", type=int, default=200_000)
    parser.add_argument("--events-only", action="store_true", help="time only the events and approvals lists")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--old-runs", type=int, default=12, help="runs of the pre-issue-13 statements (a 6th run may plan generic)"
    )
    parser.add_argument(
        "--bypassrls",
        action="store_true",
        help="give service_role BYPASSRLS on the bench's own server, as Supabase's service_role has",
    )
    parser.add_argument("--data-dir", help="keep the embedded database here (reused when already loaded)")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
