"""The sweeper's pure decisions: hooks from the setting, deliveries to ask for again, missed Sentry moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.sweeper import rules
from domain.sweeper.rules import Hook, Missed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class D:
    id: int
    guid: str
    delivered_at: datetime | None = T0


def test_hooks_from_the_setting() -> None:
    setting = [
        {"type": "repository", "repository": "acme/app", "hook_id": 1},
        {"type": "organization", "organization": "acme", "hook_id": 2},
        {"type": "app"},
        {"type": "app"},
        {"type": "repository", "repository": "acme/app"},
        "junk",
    ]
    assert rules.hooks(setting) == [
        Hook("repository", "acme/app", 1),
        Hook("organization", "acme", 2),
        Hook("app", None, None),
    ]
    assert [h.key for h in rules.hooks(setting)] == ["repository:acme/app:1", "organization:acme:2", "app"]
    assert rules.hooks(None) == []


def test_one_attempt_per_guid_never_stored() -> None:
    listed = [D(1, "a"), D(2, "b"), D(3, "a"), D(4, "c")]
    assert rules.to_redeliver(listed, {"b"}) == [D(3, "a"), D(4, "c")]
    assert rules.to_redeliver(listed, {"a", "b", "c"}) == []


def test_young_deliveries_are_left_to_settle() -> None:
    assert rules.settled([D(1, "a", T0), D(2, "b", T1), D(3, "c", None)], T0) == [D(1, "a", T0), D(3, "c", None)]


def test_missed_sentry_moves() -> None:
    def missed(status: str, sub: str | None, ours: str | None, *, last: datetime = T0, by_sentry: bool = True):
        return rules.sentry_missed(status, sub, last, ours, T0, resolved_in_sentry=by_sentry)

    assert missed("resolved", None, "open") is Missed.RESOLVED
    assert missed("resolved", None, "resolved") is None
    assert missed("ignored", "archived_forever", "open") is Missed.IGNORED
    assert missed("unresolved", "ongoing", "resolved") is Missed.UNRESOLVED
    assert missed("unresolved", "regressed", "resolved") is Missed.REGRESSED
    assert missed("unresolved", "ongoing", "resolved", last=T1) is Missed.REGRESSED
    assert missed("unresolved", "ongoing", "resolved", by_sentry=False) is None  # resolved by its Linear issue
    assert missed("unresolved", "regressed", "resolved", by_sentry=False) is None
    assert missed("unresolved", "ongoing", "resolved", last=T1, by_sentry=False) is Missed.REGRESSED
    assert missed("unresolved", "ongoing", "open") is None
    assert missed("unresolved", "ongoing", "ignored") is None


def test_our_view_of_a_sentry_issue() -> None:
    assert rules.ours("open", "resolved") == "open"
    assert rules.ours("unlinked", "resolved") == "resolved"
    assert rules.ours(None, "acknowledged") == "open"
    assert rules.ours(None, None) is None


def test_batches() -> None:
    assert rules.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert rules.batches([], 50) == []
