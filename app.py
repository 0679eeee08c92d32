"""swarm-bridge: the one wiring point. ``build_app(config)`` for servers and tests, ``main()`` for people.

python app.py            serve on HOST:PORT (embedded PostgreSQL unless DATABASE_URL is set)
python app.py migrate    apply database migrations and exit
python app.py deliveries list webhook deliveries whose processing failed
python app.py replay <id|--failed>  reprocess stored webhook deliveries
python app.py rollup --from T --to T  backfill hourly agent_metrics
python app.py analytics [--backfill]  compute automation_analytics (past periods from GitHub)
python app.py console-link  print a one-time sign-in link to the console (10 minutes)
python app.py sweep --since 24h  find and heal what webhooks never told (progress bar)
python app.py demo       play recorded webhooks through the signed endpoints, then an approval and a coding request
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import sentry_sdk
from aiohttp import web

import logs
from config import Config, ConfigError
from db import connect, embedded, migrate
from db.listen import Hub
from domain import approvals, coding_requests, incidents, ledger, metrics, runbooks, sweeper
from domain.approvals import store as approval_store
from domain.bus import events as bus
from handlers import access, commands, console, errors, health, slack, webhooks
from handlers.api import actions, analytics, auth, costs, events, openapi
from handlers.api import approvals as approvals_api
from handlers.api import coding_requests as coding_requests_api
from handlers.api import incidents as incidents_api
from handlers.api import metrics as metrics_api
from handlers.api import runbooks as runbooks_api
from handlers.api import settings as settings_api
from handlers.api import sweeps as sweeps_api
from handlers.keys import CONFIG, DSN, HUB, INBOX_WAKEUP, INTAKE, POOL, SUPERVISOR, WIRING
from handlers.slack.bolt import FAST_TASKS
from integrations.linear import client as linear_client
from integrations.slack import client as slack_client
from jobs import inbox, inbox_worker, outbox, scheduler
from jobs.intake import Intake
from jobs.supervisor import Supervisor
from jobs.wiring import Wiring

# Each concept adds its webhook callbacks, outbox handlers and jobs; each edge its routes and listeners.
CONCEPTS = (incidents, approvals, coding_requests, ledger, metrics, runbooks, sweeper)
EDGES = (
    health,
    webhooks,
    slack,
    incidents_api,
    coding_requests_api,
    approvals_api,
    events,
    actions,
    costs,
    settings_api,
    metrics_api,
    analytics,
    runbooks_api,
    sweeps_api,
    openapi,
    console,
)
LISTEN_CHANNELS = (bus.CHANNEL, outbox.CHANNEL, approval_store.NOTIFY_CHANNEL)
MAX_BODY = 1024 * 1024


async def embedded_postgres(app: web.Application) -> AsyncIterator[None]:
    async with embedded.database_url(app[CONFIG]) as dsn:
        app[DSN] = dsn
        yield


async def database(app: web.Application) -> AsyncIterator[None]:
    """The asyncpg pool, after migrations have brought the schema up to date (on a connection of their
    own, without the pool's command timeout: a replica waiting on another's migration just waits)."""
    applied = await migrate.migrate_dsn(app[DSN])
    pool = await connect.create_pool(app[DSN])
    try:
        logs.event("db.ready", applied=applied)
        app[POOL] = pool
        yield
    finally:
        await pool.close()


async def listen_hub(app: web.Application) -> AsyncIterator[None]:
    hub, dsn = app[HUB], app[DSN]
    app[SUPERVISOR].start("listen", lambda: hub.run(dsn), probe=hub.status)
    with contextlib.suppress(TimeoutError):  # serve listening from the first request; /readyz says if not
        async with asyncio.timeout(10):
            await hub.listening.wait()
    yield
    hub.close()
    await app[SUPERVISOR].stop("listen")


async def freeze_startup_objects(app: web.Application) -> None:
    """Move what startup made (modules, Bolt, schemas, pools: ~100,000 objects) out of the collector's
    reach: a full collection scanning them paused the event loop 50-110 ms, a tail every answer shared;
    with them frozen it took 9 ms (bench run --quick, gc callbacks)."""
    gc.collect()
    gc.freeze()


def answering(app: web.Application) -> bool:
    """A burst is being answered or processed: more than 8 webhook requests, Slack clicks still deciding,
    or more stored deliveries waiting than a batch holds (their incidents come before the outbox's posts)."""
    wakeup = app[INBOX_WAKEUP]
    return wakeup.busy or wakeup.backlog or len(app.get(FAST_TASKS, ())) > inbox_worker.BUSY_AT


async def close_hub(app: web.Application) -> None:
    app[HUB].close()  # long-polls and streams end now instead of holding the shutdown


async def background_jobs(app: web.Application) -> AsyncIterator[None]:
    """The outbox worker, the inbox workers and every scheduler job loop, each a supervised component."""
    config, wiring, pool, supervisor = app[CONFIG], app[WIRING], app[POOL], app[SUPERVISOR]
    if not config.run_jobs:
        yield
        return
    ctx = outbox.Context(pool=pool, config=config, handlers=wiring.outbox)
    wake = app[HUB].subscribe(outbox.CHANNEL)
    names = ["outbox"]
    supervisor.start("outbox", lambda: outbox.run_worker(ctx, wake, busy=lambda: answering(app)))
    wakeup = app[INBOX_WAKEUP]
    for n in range(len(wakeup.events)):
        names.append(f"inbox:{n}")
        supervisor.start(names[-1], lambda n=n: inbox_worker.run_worker(pool, wiring.router, wakeup, n))
    jobs = [*wiring.jobs, inbox.retry_job(wiring.router), inbox.retention_job(), outbox.retention_job()]
    for job in jobs:
        names.append(f"job:{job.name}")
        supervisor.start(names[-1], lambda job=job: scheduler.run_forever(pool, job))
    yield
    await supervisor.stop(*names)
    await linear_client.close(ctx)
    await slack_client.close(ctx)


def wire(config: Config | None = None) -> Wiring:
    wiring = Wiring(config=config or Config())
    for concept in CONCEPTS:
        concept.setup(wiring)
    return wiring


def build_app(config: Config) -> web.Application:
    errors.install_expect_handler()
    app = web.Application(
        middlewares=[access.access_log, errors.json_errors, auth.authenticate],
        client_max_size=MAX_BODY,
    )
    app[CONFIG] = config
    app[WIRING] = wire(config)
    app[HUB] = Hub(LISTEN_CHANNELS)
    app[SUPERVISOR] = Supervisor()
    app[INBOX_WAKEUP] = inbox_worker.Wakeup()
    app[INTAKE] = Intake()
    app.cleanup_ctx.extend([embedded_postgres, database, listen_hub, background_jobs])
    app.on_startup.append(freeze_startup_objects)
    app.on_shutdown.append(close_hub)
    for edge in EDGES:
        edge.setup(app)
    return app


def scrub_event(event: Any, hint: Any) -> Any:
    """Sentry's before_send and before_breadcrumb: no configured secret and no token-shaped value leaves."""
    return logs.scrub_value(event)


def init_sentry(config: Config) -> None:
    """Error reports without local variables (they held the Config), request bodies or credentials."""
    logs.remember_secrets(config.secrets())
    if config.sentry_dsn:
        sentry_sdk.init(
            dsn=str.__str__(config.sentry_dsn),
            include_local_variables=False,
            max_request_body_size="never",
            traces_sample_rate=0.0,
            before_send=scrub_event,
            before_breadcrumb=scrub_event,
        )


async def run_migrations(config: Config) -> int:
    async with embedded.database_url(config) as dsn:
        applied = await migrate.migrate_dsn(dsn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="swarm-bridge")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve HTTP (the default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parsers(sub)
    args = parser.parse_args(argv)

    logs.configure()
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    init_sentry(config)
    try:
        if args.command == "migrate":
            return asyncio.run(run_migrations(config))
        if args.command in commands.COMMANDS:
            return asyncio.run(commands.COMMANDS[args.command](config, args, wire(config)))
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
