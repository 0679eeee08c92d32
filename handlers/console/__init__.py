"""The console for people: server-rendered pages under /console, htmx (vendored) for live regions.

Sign-in (Slack OpenID Connect or a one-time local link), sessions and CSRF are in ``login``/``sessions``;
pages in ``pages``; actions, which call the same domain functions as the API and Slack, in ``actions``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from handlers.console import actions, filters, login, pages, sessions
from handlers.console.web import KEY, PREFIX, console
from handlers.keys import POOL

HERE = Path(__file__).parent


async def signing_key(app: web.Application) -> AsyncIterator[None]:
    app[KEY] = await sessions.signing_key(app[POOL])
    yield


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    filters.register(env)
    app.middlewares.append(console)
    app.cleanup_ctx.append(signing_key)
    app.router.add_static(f"{PREFIX}/static", HERE / "static", append_version=False)
    login.add_routes(app)
    pages.add_routes(app)
    actions.add_routes(app)
