"""Incident lifecycle rules, the fix timeline intervals and the Slack builders (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.incidents import messages as incident_messages
from domain.incidents.fix_timeline import intervals
from domain.incidents.rules import Status, Transition, is_open, next_status, refusal

S, T = Status, Transition


@pytest.mark.parametrize(
    ("current", "move", "after"),
    [
        (S.DETECTED, T.ACKNOWLEDGE, S.ACKNOWLEDGED),
        (S.ACKNOWLEDGED, T.ACKNOWLEDGE, None),
        (S.DETECTED, T.MITIGATE, S.MITIGATING),
        (S.ACKNOWLEDGED, T.MITIGATE, S.MITIGATING),
        (S.MITIGATING, T.MITIGATE, None),
        (S.MITIGATING, T.ACKNOWLEDGE, None),
        (S.DETECTED, T.RESOLVE, S.RESOLVED),
        (S.ACKNOWLEDGED, T.RESOLVE, S.RESOLVED),
        (S.MITIGATING, T.RESOLVE, S.RESOLVED),
        (S.IGNORED, T.RESOLVE, S.RESOLVED),
        (S.RESOLVED, T.RESOLVE, None),
        (S.RESOLVED, T.ACKNOWLEDGE, None),
        (S.RESOLVED, T.MITIGATE, None),
        (S.DETECTED, T.IGNORE, S.IGNORED),
        (S.RESOLVED, T.IGNORE, None),
    ],
)
def test_transitions(current: Status, move: Transition, after: Status | None) -> None:
    assert next_status(current, move) == after


def test_unknown_status_allows_nothing_and_open_states() -> None:
    assert next_status("bogus", T.RESOLVE) is None
    assert [s for s in Status if is_open(s)] == [S.DETECTED, S.ACKNOWLEDGED, S.MITIGATING]
    assert "resolved" in refusal("resolved", T.ACKNOWLEDGE) and "detected" in refusal("resolved", T.ACKNOWLEDGE)


def test_intervals_are_differences() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    assert intervals(t0, t0 + timedelta(minutes=5), None, t0 + timedelta(hours=2)) == (
        timedelta(minutes=5),
        None,
        timedelta(hours=2),
    )


def test_announcement_and_update_texts() -> None:
    incident = {
        "incident_number": 12,
        "severity": "critical",
        "status": "detected",
        "title": "x" * 400,
        "source": "sentry",
        "incident_type": "application_error",
        "affected_services": ["api"],
        "error_message": "boom",
        "linear_issue_id": "ENG-1",
    }
    text, blocks = incident_messages.announcement(incident)
    assert text.startswith(":red_circle: Incident #12 (critical)") and len(blocks[0]["text"]["text"]) <= 150
    assert any("ENG-1" in f["text"] for f in blocks[1]["fields"]) and "boom" in blocks[2]["text"]["text"]
    resolved = {**incident, "status": "resolved", "resolved_by": "alice", "resolution_summary": "rolled back"}
    assert incident_messages.update(resolved, "note") == "Incident #12 is now resolved by alice: rolled back\nnote"
