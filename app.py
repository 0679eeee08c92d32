"""swarm-bridge: the one wiring point. ``build_app(config)`` for servers and tests, ``main()`` for people.

python app.py            serve on HOST:PORT (embedded PostgreSQL unless DATABASE_URL is set)
python app.py migrate    apply database migrations and exit
python app.py deliveries list webhook deliveries whose processing failed
python app.py replay <id|--failed>  reprocess stored webhook deliveries
python app.py rollup --from T --to T  backfill hourly agent_metrics
python app.py analytics [--backfill]  compute automation_analytics (past periods from GitHub)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import sentry_sdk
from aiohttp import web

import logs
from config import Config, ConfigError
from db import connect, embedded, migrate
from handlers import errors, health, slack, webhooks
from handlers.api import actions, analytics, auth, costs, events, metrics, openapi
from handlers.api import approvals as api_approvals
from handlers.api import coding_requests as coding_requests_api
from handlers.api import config as config_api
from handlers.api import incidents as incidents_api
from handlers.keys import CONFIG, DSN, POOL

# Imported for their side effect: each registers its Bolt listeners on handlers.slack.REGISTRARS.
from handlers.slack import app_home, approvals, coding_requests  # noqa: F401
from handlers.webhooks import commands as webhook_commands
from jobs import commands as rollup_commands
from jobs import outbox, scheduler
from jobs import rollups as rollups  # registers the rollup jobs

MAX_BODY = 1024 * 1024


async def embedded_postgres(app: web.Application) -> AsyncIterator[None]:
    async with embedded.database_url(app[CONFIG]) as dsn:
        app[DSN] = dsn
        yield


async def database(app: web.Application) -> AsyncIterator[None]:
    """The asyncpg pool, after migrations have brought the schema up to date."""
    pool = await connect.create_pool(app[DSN])
    try:
        async with pool.acquire() as conn:
            applied = await migrate.migrate(conn)
        logs.event("db.ready", applied=applied)
        app[POOL] = pool
        yield
    finally:
        await pool.close()


async def background_jobs(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if not config.run_jobs:
        yield
        return
    ctx = outbox.Context(pool=app[POOL], config=config)
    tasks = [asyncio.create_task(outbox.run_worker(ctx), name="outbox")]
    tasks += [asyncio.create_task(scheduler.run_forever(app[POOL], job), name=job.name) for job in scheduler.JOBS]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def build_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[errors.json_errors, auth.authenticate],
        client_max_size=MAX_BODY,
    )
    app[CONFIG] = config
    app.cleanup_ctx.extend([embedded_postgres, database, background_jobs])
    health.setup(app)
    webhooks.setup(app)
    incidents_api.setup(app)
    slack.setup(app)
    coding_requests_api.setup(app)
    api_approvals.setup(app)
    events.setup(app)
    actions.setup(app)
    costs.setup(app)
    config_api.setup(app)
    metrics.setup(app)
    analytics.setup(app)
    openapi.setup(app)
    return app


def init_sentry(config: Config) -> None:
    if config.sentry_dsn:
        sentry_sdk.init(dsn=config.sentry_dsn, send_default_pii=False, traces_sample_rate=0.0)


async def run_migrations(config: Config) -> int:
    async with embedded.database_url(config) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            applied = await migrate.migrate(conn)
        finally:
            await conn.close()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], Awaitable[int]]] = {
    "migrate": lambda config, _args: run_migrations(config),
    "deliveries": webhook_commands.list_failed,
    "replay": webhook_commands.replay,
    "rollup": rollup_commands.rollup,
    "analytics": rollup_commands.analytics,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="swarm-bridge")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve HTTP (the default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    webhook_commands.add_parsers(sub)
    rollup_commands.add_parsers(sub)
    args = parser.parse_args(argv)

    logs.configure()
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    init_sentry(config)
    try:
        if args.command in COMMANDS:
            return asyncio.run(COMMANDS[args.command](config, args))
        if config.missing():
            logs.event("config.unset", logging.WARNING, variables=config.missing())
        web.run_app(
            build_app(config),
            host=config.host,
            port=config.port,
            access_log=None,
            shutdown_timeout=30,
            print=lambda msg: logs.event("http.listening", host=config.host, port=config.port),
        )
        return 0
    except migrate.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
