"""Slack texts and Block Kit for incident announcements and thread updates (pure)."""

from __future__ import annotations

from typing import Any

SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:"}
STATUS_TEXT = {
    "acknowledged": "acknowledged",
    "mitigating": "being mitigated",
    "resolved": "resolved",
    "ignored": "ignored at the source",
    "detected": "detected again",
}


def _clip(value: str | None, limit: int) -> str:
    value = (value or "").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def announcement(incident: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The first message of an incident's thread: fallback text and blocks."""
    number, severity = incident.get("incident_number"), str(incident.get("severity") or "low")
    emoji = SEVERITY_EMOJI.get(severity, ":white_circle:")
    title = _clip(str(incident.get("title") or "incident"), 150)
    text = f"{emoji} Incident #{number} ({severity}): {title}"
    services = ", ".join(incident.get("affected_services") or []) or "unknown"
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
        {"type": "mrkdwn", "text": f"*Status*\n{incident.get('status') or 'detected'}"},
        {"type": "mrkdwn", "text": f"*Source*\n{incident.get('source')} ({incident.get('incident_type')})"},
        {"type": "mrkdwn", "text": f"*Service*\n{_clip(services, 100)}"},
    ]
    if incident.get("linear_issue_id"):
        fields.append({"type": "mrkdwn", "text": f"*Linear*\n{incident['linear_issue_id']}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"Incident #{number}: {title}", 150)}},
        {"type": "section", "fields": fields},
    ]
    if incident.get("error_message"):
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "```" + _clip(incident["error_message"], 2500) + "```"},
            }
        )
    return text, blocks


def update(incident: dict[str, Any], note: str | None = None) -> str:
    """A thread reply telling what changed on the incident."""
    status = str(incident.get("status") or "")
    line = f"Incident #{incident.get('incident_number')} is now {STATUS_TEXT.get(status, status)}"
    if status == "resolved" and incident.get("resolved_by"):
        line += f" by {incident['resolved_by']}"
    if incident.get("resolution_summary") and status == "resolved":
        line += f": {_clip(incident['resolution_summary'], 500)}"
    if note:
        line += f"\n{_clip(note, 1000)}"
    return line


def note(incident: dict[str, Any], text: str) -> str:
    """A thread reply that is not a status change (a mirrored comment, a deleted Linear issue ...)."""
    return f"Incident #{incident.get('incident_number')}: {_clip(text, 2000)}"
