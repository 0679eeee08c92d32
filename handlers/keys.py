"""Typed keys for the resources every handler shares."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from config import Config

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
DSN = web.AppKey("dsn", str)  # the database URL (the embedded server's when DATABASE_URL is unset)
