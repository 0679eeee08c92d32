"""manifest.yml against the listeners the code registers on the Bolt app, both ways.

The registered ids are read from Bolt itself (each listener's primary matcher closes over its
constraint), so a new ``@bolt.command`` / ``@bolt.view`` / ``@bolt.event`` anywhere is checked without
editing this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from config import Config
from handlers import slack
from handlers.slack import bolt as bolt_module

MANIFEST_PATH = Path(__file__).parents[2] / "manifest.yml"
REQUEST_URL = "https://YOUR_HOST/slack/events"


# Entries owned by the coding-requests feature (slash command, message shortcut, App Home event): in the
# manifest already, their listeners arrive with that branch. The integrator deletes this set after merging
# it; from then on a manifest entry without a listener fails this test again.
def _closure(fn: Any) -> dict[str, Any]:
    cells = getattr(fn, "__closure__", None) or ()
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in cells), strict=True))


def _text(value: Any) -> str:
    if isinstance(value, re.Pattern):
        raise AssertionError(f"listener on a regex {value.pattern!r}: list its ids explicitly to check the manifest")
    return str(value)


def registered(bolt: AsyncApp) -> set[tuple[str, str]]:
    """(kind, id) for every listener: action_id, view_callback_id, command, shortcut kinds, event."""
    found: set[tuple[str, str]] = set()
    for listener in bolt._async_listeners:
        matcher = listener.matchers[0]  # the primary matcher Bolt built from the decorator's constraint
        inner = _closure(getattr(matcher, "func", None)).get("func")
        assert inner is not None, f"not a built-in Bolt matcher: {listener.ack_function}"
        kind, scope = inner.__qualname__.split(".")[0], _closure(inner)
        if kind in ("action", "block_action"):
            constraint = scope["constraints"]
            action_id = constraint.get("action_id") if isinstance(constraint, dict) else constraint
            found.add(("action_id", _text(action_id)))
        elif kind in ("view_submission", "view_closed"):
            found.add(("view_callback_id", _text(scope["callback_id"])))
        elif kind == "command":
            found.add(("command", _text(scope["command"])))
        elif kind in ("message_shortcut", "global_shortcut", "shortcut"):
            found.add((kind, _text(scope["callback_id"])))
        elif kind == "event":
            event_type = scope.get("event_type") or scope["constraints"]["type"]
            found.add(("event", _text(event_type)))
        else:
            raise AssertionError(f"teach test_manifest about Bolt listener kind {kind!r}")
    return found


def declared(manifest: dict[str, Any], text: str) -> set[tuple[str, str]]:
    features, settings = manifest.get("features", {}), manifest.get("settings", {})
    found = {("command", c["command"]) for c in features.get("slash_commands", [])}
    for s in features.get("shortcuts", []):
        found.add(("message_shortcut" if s["type"] == "message" else "global_shortcut", s["callback_id"]))
    found |= {("event", e) for e in settings.get("event_subscriptions", {}).get("bot_events", [])}
    for kind in ("action_ids", "view_callback_ids"):
        match = re.search(rf"^#\s+{kind}:\s*\[(.*)\]\s*$", text, re.MULTILINE)
        assert match, f"manifest.yml lists no {kind} in its interactivity comment"
        found |= {(kind[:-1], i.strip()) for i in match.group(1).split(",") if i.strip()}
    return found


async def bolt_app() -> AsyncApp:
    bolt = bolt_module.build_bolt(Config(slack_signing_secret="s", slack_bot_token="xoxb-manifest-test"))
    owner = web.Application()
    for register in slack.LISTENERS:
        register(bolt, owner)
    return bolt


async def test_every_registered_listener_is_in_the_manifest_and_back() -> None:
    text = MANIFEST_PATH.read_text()
    in_code = registered(await bolt_app())
    in_manifest = declared(yaml.safe_load(text), text)
    assert ("action_id", "approval_approve") in in_code, "the introspection sees the approvals listeners"

    def loose(kind_id: tuple[str, str]) -> tuple[str, str]:
        return ("shortcut", kind_id[1]) if kind_id[0] in ("message_shortcut", "global_shortcut") else kind_id

    missing_from_manifest = {e for e in in_code if loose(e) not in {loose(m) for m in in_manifest}}
    assert not missing_from_manifest, f"registered on the Bolt app but not in manifest.yml: {missing_from_manifest}"
    unhandled = in_manifest - in_code
    unhandled = {e for e in unhandled if loose(e) not in {loose(c) for c in in_code}}
    assert not unhandled, f"in manifest.yml but no listener handles it: {unhandled}"


def test_manifest_settings() -> None:
    manifest = yaml.safe_load(MANIFEST_PATH.read_text())
    settings, features = manifest["settings"], manifest["features"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    assert all(c["url"] == REQUEST_URL for c in features.get("slash_commands", []))
    assert features["app_home"]["home_tab_enabled"] is True and features["bot_user"]["display_name"]
    assert settings["socket_mode_enabled"] is False, "HTTP mode by default; SLACK_APP_TOKEN switches to Socket Mode"
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "usergroups:read"} <= scopes
    if features.get("slash_commands") or features.get("shortcuts"):
        assert "commands" in scopes
