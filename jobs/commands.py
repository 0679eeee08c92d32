"""``python app.py rollup --from T --to T`` and ``python app.py analytics [--backfill]``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from config import Config
from db import connect
from domain import analytics as automation
from domain import metrics


def instant(text: str) -> datetime:
    """An ISO 8601 time for argparse (UTC when it names no zone); a clear usage error otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-20T09:00:00Z)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_parsers(sub: Any) -> None:
    rollup = sub.add_parser("rollup", help="backfill hourly agent_metrics for [--from, --to)")
    rollup.add_argument("--from", dest="start", type=instant, required=True, help="ISO 8601 start (UTC when no zone)")
    rollup.add_argument("--to", dest="end", type=instant, required=True, help="ISO 8601 end, exclusive")
    stats = sub.add_parser("analytics", help="compute automation_analytics (--backfill: past periods from GitHub)")
    stats.add_argument("--backfill", action="store_true", help="fill past periods from the GitHub API (PyGithub)")
    stats.add_argument("--periods", type=int, default=12, help="how many past periods to backfill (default 12)")


async def rollup(config: Config, args: argparse.Namespace) -> int:
    """Backfill agent_metrics for [--from, --to) hour by hour, with a progress bar on stderr."""
    start, end = args.start, args.end
    if end <= start:
        print(f"error: --to ({end.isoformat()}) must be after --from ({start.isoformat()})", file=sys.stderr)
        return 2

    def bar(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        print(f"\rrollup [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} hours", end="", file=sys.stderr)

    async with connect.command_pool(config) as pool:
        rolled = await metrics.backfill(pool, start, end, bar)
    print(f"\nrolled {rolled} hour(s) of agent_metrics", file=sys.stderr)
    return 0


async def analytics(config: Config, args: argparse.Namespace) -> int:
    """Recompute the current automation_analytics periods, or with --backfill fill past ones from GitHub."""
    async with connect.command_pool(config) as pool:
        if args.backfill:
            rows = await automation.backfill(pool, config.github_api_url, config.github_token, periods=args.periods)
            for row in rows:
                print(f"{row['period_start']:%Y-%m-%d} prs={row['prs_total']} ci_runs={row['ci_runs']}")
        else:
            await automation.roll_current(pool)
    return 0
