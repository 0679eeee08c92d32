"""Typed keys for the resources every handler shares."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from config import Config
from db.listen import Hub
from integrations.slack.usergroups import GroupMembers
from jobs.inbox_worker import Wakeup
from jobs.intake import Intake
from jobs.supervisor import Supervisor
from jobs.wiring import Wiring

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
DSN = web.AppKey("dsn", str)  # the database URL (the embedded server's when DATABASE_URL is unset)
HUB = web.AppKey("listen_hub", Hub)  # the process's one LISTEN connection (bus, outbox, long-polls)
WIRING = web.AppKey("wiring", Wiring)  # what the domain concepts registered: webhook router, outbox, jobs
GROUP_MEMBERS = web.AppKey("group_members", GroupMembers)  # Slack user groups, cached per app
SUPERVISOR = web.AppKey("supervisor", Supervisor)  # the background components, restarted when they crash
INBOX_WAKEUP = web.AppKey("inbox_wakeup", Wakeup)  # a delivery stored here wakes an inbox worker here
INTAKE = web.AppKey("intake", Intake)  # webhook deliveries stored in groups, one commit per group
