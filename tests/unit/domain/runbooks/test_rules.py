"""Runbook rules: the Wilson bound, the four modes, agreement, conditions and names."""

from __future__ import annotations

import pytest

from domain.runbooks import rules
from domain.runbooks.rules import Evidence, Mode


def test_wilson_lower_bound_of_three_of_three_is_only_0_44() -> None:
    assert rules.wilson_lower_bound(3, 3) == pytest.approx(0.4385, abs=1e-3)
    assert rules.wilson_lower_bound(0, 0) == 0.0
    assert rules.wilson_lower_bound(20, 20) > 0.8 > rules.wilson_lower_bound(15, 15)


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (Evidence(2, False, 20, 0, 3), Mode.AUTO),
        (Evidence(2, True, 20, 0, 3), Mode.APPROVAL),
        (Evidence(2, False, 3, 0, 3), Mode.SHADOW),  # the counter alone is not enough
        (Evidence(2, True, 0, 0, 3), Mode.SHADOW),
        (Evidence(0, False, 20, 0, 3), Mode.SUGGEST),  # nothing to run
        (Evidence(2, False, 2, 3, 3), Mode.SUGGEST),  # the evidence is against it
        (Evidence(2, False, 20, 0, 25), Mode.SHADOW),  # below the pattern's own auto_execute_threshold
    ],
)
def test_mode(evidence: Evidence, expected: Mode) -> None:
    assert rules.mode(evidence, 0.8) is expected


def test_agreement_is_the_jaccard_index_of_actions_on_targets() -> None:
    proposed = [{"action": "restart", "target": "api"}, {"action": "flush_cache", "target": "redis"}]
    assert rules.agreement(proposed, [{"action": "Restart", "target": "API", "params": {"x": 1}}, proposed[1]]) == 1.0
    assert rules.agreement(proposed, [proposed[0]]) == 0.5
    assert rules.agreement(proposed, []) == 0.0
    assert rules.agreement([], []) == 1.0


def test_promotion_needs_enough_incidents_enough_agreement_and_no_regression() -> None:
    kw = {"min_incidents": 10, "min_agreement": 0.9}
    assert rules.promotion_due(10, 9.5, 0, **kw)
    assert not rules.promotion_due(9, 9.0, 0, **kw)
    assert not rules.promotion_due(10, 8.5, 0, **kw)
    assert not rules.promotion_due(10, 10.0, 1, **kw)


def test_conditions_and_facts_are_json_sql_can_test_by_containment() -> None:
    incident = {
        "source": "sentry",
        "incident_type": "application_error",
        "severity": "high",
        "title": "KeyError: 'customer_id' in charge 4411",
        "affected_services": ["payments"],
        "error_details": {"error_type": "KeyError"},
    }
    conditions = rules.conditions(incident)
    assert conditions == {
        "source": "sentry",
        "incident_type": "application_error",
        "services": ["payments"],
        "title_keywords": ["charge", "keyerror"],
        "error_type": "KeyError",
        "severity": "high",
    }
    assert rules.pattern_name(incident) == "payments: keyerror charge"
    assert rules.looks_like("payments: keyerror charge", 3, 7, 8, 240000, Mode.SHADOW) == (
        "looks like payments: keyerror charge (v3): resolved 7 of 8 times, median 4 min [shadow]"
    )
