"""The CLI commands of ``python app.py``: every one but ``serve`` and ``migrate`` (those are in app.py).

deliveries                 list webhook deliveries whose processing failed (retried) or is dead (not retried)
replay <id|--failed>       reprocess stored webhook deliveries now
rollup --from T --to T     backfill hourly agent_metrics (progress bar on stderr)
analytics [--backfill]     compute automation_analytics (past periods from the GitHub API)
console-link [--user U…]   print a one-time sign-in link to the console (handlers/console/demo.py)
demo [--url URL]           play recorded webhooks through the running service, then file two requests
reembed                    re-embed incidents and runbook patterns with runbooks.embedder (progress bar)
sweep [--since 24h]        find and heal what webhooks never told: GitHub redeliveries, Linear and Sentry states
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from config import Config
from db import connect
from domain.metrics import analytics as automation
from domain.metrics import rollup as metrics
from domain.runbooks import reembed as runbooks_reembed
from domain.sweeper import runner as sweeper
from handlers.console import demo
from jobs import inbox, outbox
from jobs.wiring import Wiring

Command = Callable[[Config, argparse.Namespace, Wiring], Awaitable[int]]


def instant(text: str) -> datetime:
    """An ISO 8601 time for argparse (UTC when it names no zone); a clear usage error otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-20T09:00:00Z)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DURATION = re.compile(r"^(\d{1,6})([smhd])$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since(text: str) -> datetime:
    """``24h``, ``90m``, ``3d``, ``600s`` before now, or an ISO 8601 time."""
    found = DURATION.match(text.strip())
    if found:
        return datetime.now(UTC) - timedelta(seconds=int(found.group(1)) * UNIT_S[found.group(2)])
    return instant(text)


def add_parsers(sub: Any) -> None:
    sub.add_parser("deliveries", help="list webhook deliveries whose processing failed or is dead")
    replay_parser = sub.add_parser("replay", help="reprocess a stored webhook delivery, or every failed one")
    replay_parser.add_argument("id", nargs="?", type=int, help="the delivery's id (first column of `deliveries`)")
    replay_parser.add_argument("--failed", action="store_true", help="replay every failed and dead delivery")
    outbox_parser = sub.add_parser("outbox", help="list dead outbox rows (outbound calls that failed for good)")
    outbox_parser.add_argument("--requeue", nargs="*", type=int, metavar="ID", help="queue these dead rows again")
    outbox_parser.add_argument("--all", action="store_true", help="with --requeue: every dead row")
    rollup_parser = sub.add_parser("rollup", help="backfill hourly agent_metrics for [--from, --to)")
    rollup_parser.add_argument(
        "--from", dest="start", type=instant, required=True, help="ISO 8601 start (UTC when no zone)"
    )
    rollup_parser.add_argument("--to", dest="end", type=instant, required=True, help="ISO 8601 end, exclusive")
    stats = sub.add_parser("analytics", help="compute automation_analytics (--backfill: past periods from GitHub)")
    stats.add_argument("--backfill", action="store_true", help="fill past periods from the GitHub API (PyGithub)")
    stats.add_argument("--periods", type=int, default=12, help="how many past periods to backfill (default 12)")
    demo.add_parsers(sub)
    sub.add_parser("reembed", help="re-embed incidents and runbook patterns with the runbooks.embedder setting")
    sweep_parser = sub.add_parser("sweep", help="redeliver GitHub deliveries we never stored; heal Linear/Sentry")
    sweep_parser.add_argument(
        "--since", type=since, default="24h", help="GitHub deliveries since: 24h, 90m, 3d or an ISO 8601 time"
    )


async def deliveries(config: Config, _args: argparse.Namespace, _wiring: Wiring) -> int:
    async with connect.command_pool(config) as pool:
        failed = await inbox.list_failed(pool)
    for d in failed:
        error = (d.last_error or "").replace("\n", " ")[:160]
        action = f"/{d.action}" if d.action else ""
        print(
            f"{d.id}\t{d.status}\t{d.source}\t{d.event_type}{action}\t{d.delivery_id}\tattempts={d.attempts}\t"
            f"received={d.received_at.isoformat()}\tnext={d.next_attempt_at.isoformat() if d.next_attempt_at else '-'}"
            f"\t{error}"
        )
    dead = sum(1 for d in failed if d.status == "dead")
    print(f"{len(failed)} failed deliver{'y' if len(failed) == 1 else 'ies'} ({dead} dead: replay them by hand)")
    return 0


async def replay(config: Config, args: argparse.Namespace, wiring: Wiring) -> int:
    if not args.failed and args.id is None:
        print("give a delivery id or --failed")
        return 2
    async with connect.command_pool(config) as pool:
        outcomes = await inbox.replay(pool, wiring.router, None if args.failed else [args.id])
    for row_id, outcome in outcomes.items():
        print(f"{row_id}\t{outcome}")
    return 0 if all(o in ("processed", "ignored") for o in outcomes.values()) else 1


async def outbox_rows(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    """List dead outbox rows, or put them back in the queue (``--requeue ID ...`` or ``--requeue --all``)."""
    async with connect.command_pool(config) as pool:
        if args.requeue is not None:
            if not args.requeue and not args.all:
                print("give dead row ids after --requeue, or --all")
                return 2
            queued = await outbox.requeue(pool, None if args.all else args.requeue)
            print(f"requeued {len(queued)} row(s): {', '.join(map(str, queued)) or 'none was dead'}")
            return 0
        dead = await outbox.list_dead(pool)
    for row in dead:
        error = (row.last_error or "").replace("\n", " ")[:160]
        print(f"{row.id}	{row.kind}	attempts={row.attempts}	created={row.created_at.isoformat()}\t{error}")
    print(f"{len(dead)} dead outbox row(s)")
    return 0


async def rollup(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    """Backfill agent_metrics for [--from, --to) hour by hour, with a progress bar on stderr."""
    start, end = args.start, args.end
    if end <= start:
        print(f"error: --to ({end.isoformat()}) must be after --from ({start.isoformat()})", file=sys.stderr)
        return 2
    with tqdm(desc="rollup", unit="hour", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        async with connect.command_pool(config) as pool:
            rolled = await metrics.backfill(pool, start, end, progress)
    print(f"rolled {rolled} hour(s) of agent_metrics", file=sys.stderr)
    return 0


async def analytics(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    """Recompute the current automation_analytics periods, or with --backfill fill past ones from GitHub."""
    async with connect.command_pool(config) as pool:
        if args.backfill:
            rows = await automation.backfill(pool, config.github_api_url, config.github_token, periods=args.periods)
            for row in rows:
                print(f"{row['period_start']:%Y-%m-%d} prs={row['prs_total']} ci_runs={row['ci_runs']}")
        else:
            await automation.roll_current(pool)
    return 0


async def reembed(config: Config, _args: argparse.Namespace, _wiring: Wiring) -> int:
    """Re-embed every incident and runbook pattern (after runbooks.embedder changed), with a progress bar."""
    with tqdm(desc="reembed", unit="row", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        async with connect.command_pool(config) as pool:
            model, count = await runbooks_reembed.reembed(pool, progress)
    print(f"re-embedded {count} row(s) with {model}", file=sys.stderr)
    return 0


async def sweep(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    """One sweep now, with a progress bar on stderr; the report's counts on stdout."""
    with tqdm(desc="sweep", unit="item", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        async with connect.command_pool(config) as pool:
            report = await sweeper.sweep(pool, config, since=args.since, progress=progress)
    for source, counts in report.sources.items():
        print(f"{source}\t" + "\t".join(f"{k}={v}" for k, v in counts.items()))
    totals = report.totals
    print(
        f"sweep {report.run_id}: checked={totals['checked']} missing={totals['missing']} "
        f"redelivered={totals['redelivered']} healed={totals['healed']}"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "deliveries": deliveries,
    "replay": replay,
    "outbox": outbox_rows,
    "rollup": rollup,
    "analytics": analytics,
    "console-link": demo.console_link,
    "demo": demo.demo,
    "reembed": reembed,
    "sweep": sweep,
}
