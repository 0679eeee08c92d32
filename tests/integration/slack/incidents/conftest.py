"""Fixtures for incidents from Slack (helpers in ``world.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.slack.incidents.world import SECRET, Incidents
from tests.integration.webhooks.conftest import world_factory as world_factory  # the fixture, shared


@pytest.fixture
async def incidents(world_factory: Callable[..., Any]) -> Incidents:
    return Incidents(await world_factory(slack_signing_secret=SECRET))
