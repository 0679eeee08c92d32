"""manifest.yml declares what the coding-request listeners need from Slack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from domain.coding_requests.blocks import COMMAND, CallbackId

MANIFEST: dict[str, Any] = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())


def test_command_shortcut_event_and_scopes_are_declared() -> None:
    features = MANIFEST["features"]
    assert COMMAND in [c["command"] for c in features["slash_commands"]]
    shortcuts = {s["callback_id"]: s for s in features["shortcuts"]}
    assert shortcuts[CallbackId.SHORTCUT.value]["type"] == "message"
    assert features["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read"} <= scopes
    # Modal submissions arrive through interactivity.
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
