"""The Slack edge: one Bolt app, and each feature's listeners bound here, in one visible list."""

from __future__ import annotations

from aiohttp import web

from handlers.keys import GROUP_MEMBERS
from handlers.slack import app_home, approvals, bolt, coding_requests, incidents
from integrations.slack.usergroups import GroupMembers

LISTENERS = (approvals.register, coding_requests.register, app_home.register, incidents.register)


def setup(app: web.Application) -> None:
    # One user-group cache per app: approval clicks and App Home ask about the same groups.
    app[GROUP_MEMBERS] = GroupMembers()
    slack_app = bolt.setup(app)
    for register in LISTENERS:
        register(slack_app, app)
