"""``python app.py deliveries`` (list failed webhook deliveries) and ``python app.py replay <id|--failed>``."""

from __future__ import annotations

import argparse

from config import Config
from db import connect
from domain import deliveries
from handlers.webhooks import register_features
from handlers.webhooks.routing import router


async def list_failed(config: Config, _args: argparse.Namespace) -> int:
    async with connect.command_pool(config) as pool:
        failed = await deliveries.list_failed(pool)
    for d in failed:
        error = (d.last_error or "").replace("\n", " ")[:160]
        action = f"/{d.action}" if d.action else ""
        print(
            f"{d.id}\t{d.source}\t{d.event_type}{action}\t{d.delivery_id}\tattempts={d.attempts}\t"
            f"received={d.received_at.isoformat()}\tnext={d.next_attempt_at.isoformat() if d.next_attempt_at else '-'}"
            f"\t{error}"
        )
    print(f"{len(failed)} failed deliver{'y' if len(failed) == 1 else 'ies'}")
    return 0


async def replay(config: Config, args: argparse.Namespace) -> int:
    if not args.failed and args.id is None:
        print("give a delivery id or --failed")
        return 2
    register_features()
    async with connect.command_pool(config) as pool:
        outcomes = await deliveries.replay(pool, router, None if args.failed else [args.id])
    for row_id, outcome in outcomes.items():
        print(f"{row_id}\t{outcome}")
    return 0 if all(o in ("processed", "ignored") for o in outcomes.values()) else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("deliveries", help="list webhook deliveries whose processing failed")
    replay_parser = sub.add_parser("replay", help="reprocess a stored webhook delivery, or every failed one")
    replay_parser.add_argument("id", nargs="?", type=int, help="the delivery's id (first column of `deliveries`)")
    replay_parser.add_argument("--failed", action="store_true", help="replay every failed delivery")
