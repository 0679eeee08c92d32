"""Small builders of domain rows for pure tests (no database)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.approvals.rules import Approval

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)

_PENDING = Approval(
    id=uuid.UUID("6f1c2a3b-0000-4000-8000-000000000001"),
    agent_name="deploy-agent",
    action_type="rollback",
    action_details={},
    risk_level="medium",
    status="pending",
    slack_channel_id=None,
    slack_message_ts=None,
    slack_thread_ts=None,
    resolved_by=None,
    resolved_at=None,
    rejection_reason=None,
    continuation_event_type=None,
    continuation_payload=None,
    expires_at=NOW + timedelta(hours=24),
    created_at=NOW,
    updated_at=NOW,
)


def pending_approval(**overrides: Any) -> Approval:
    """A pending ``approval_requests`` row, created at ``NOW``, expiring a day later."""
    return replace(_PENDING, **overrides)
