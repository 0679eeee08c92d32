"""The coding request lifecycle and vocabularies, as pure rules."""

from __future__ import annotations

import itertools

import pytest

from domain.coding_requests.rules import (
    MAIN_LINE,
    TERMINAL,
    FieldError,
    Priority,
    RequestType,
    SlackOrigin,
    Status,
    TransitionRefused,
    check_move,
    classify_files,
    fact_sources_for,
    matching_labels,
    may_move,
    parse_changes,
    parse_status,
    priority_from_linear,
    referenced_numbers,
    request_type_from_labels,
    sources_for,
    status_change_text,
)


def test_the_main_line_moves_one_step_at_a_time() -> None:
    for current, target in itertools.pairwise(MAIN_LINE):
        assert may_move(current, target)
    assert not may_move(Status.PENDING, Status.IN_PROGRESS)
    assert not may_move(Status.PLANNING, Status.COMPLETED)
    assert not may_move(Status.IN_PROGRESS, Status.PLANNING)


def test_open_requests_may_fail_or_be_cancelled_and_endings_are_final() -> None:
    for status in set(Status) - TERMINAL:
        assert may_move(status, Status.FAILED) and may_move(status, Status.CANCELLED)
    for end in TERMINAL:
        assert not any(may_move(end, target) for target in Status)


def test_review_may_send_work_back() -> None:
    assert may_move(Status.IN_REVIEW, Status.IN_PROGRESS)


def test_a_refused_move_says_what_is_allowed() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_move(Status.PENDING, Status.COMPLETED, 7)
    message = str(refused.value)
    assert "#7" in message and "pending to completed" in message
    assert "cancelled, failed, planning" in message
    with pytest.raises(TransitionRefused, match="completed is final"):
        check_move(Status.COMPLETED, Status.IN_PROGRESS, 7)


def test_sql_guards() -> None:
    assert sources_for(Status.IN_PROGRESS) == ["in_review", "planning"]
    assert sources_for(Status.PLANNING) == ["pending"]
    # GitHub facts skip forwards along the main line, never out of an ending.
    assert fact_sources_for(Status.IN_REVIEW) == ["in_progress", "pending", "planning"]
    assert fact_sources_for(Status.COMPLETED) == ["in_progress", "in_review", "pending", "planning"]


def test_parse_status_names_the_choices() -> None:
    assert parse_status("in_review") is Status.IN_REVIEW
    with pytest.raises(ValueError, match="use one of pending, planning"):
        parse_status("done")


def test_cr_references_in_branch_and_title() -> None:
    assert referenced_numbers("feature/cr-12-login", "Fix login (CR-12, cr-3)") == [12, 3]
    assert referenced_numbers("scr-12", "cr-") == []
    assert referenced_numbers(None, "") == []


def test_linear_priority_type_and_labels() -> None:
    assert [priority_from_linear(p) for p in (0, 1, 2, 3, 4, None, "1")] == [
        Priority.MEDIUM,
        Priority.URGENT,
        Priority.HIGH,
        Priority.MEDIUM,
        Priority.LOW,
        Priority.MEDIUM,
        Priority.MEDIUM,
    ]
    assert request_type_from_labels(["Feature", "Bug"]) is RequestType.BUG
    assert request_type_from_labels(["feature"]) is RequestType.FEATURE
    assert request_type_from_labels(["Improvement"]) is RequestType.FEATURE
    assert matching_labels(["Bug", "Coding-Agent"], ["coding-agent"]) == ["Coding-Agent"]
    assert matching_labels(["Bug"], ["coding-agent"]) == []


def test_patch_bodies_are_validated_field_by_field() -> None:
    changes = parse_changes(
        {"status": "planning", "files_to_create": ["a.py"], "implementation_plan": {"steps": []}, "branch_name": "x"}
    )
    assert changes.status is Status.PLANNING and changes.files_to_create == ["a.py"] and changes.branch_name == "x"
    bad = [
        ({"status": "done"}, "status"),
        ({"files_to_modify": "a.py"}, "files_to_modify"),
        ({"test_files": [""]}, "test_files"),
        ({"implementation_plan": []}, "implementation_plan"),
        ({"estimated_complexity": ""}, "estimated_complexity"),
        ({"pr_number": 3}, "pr_number"),
        ({}, "body"),
        ([], "body"),
    ]
    for body, field in bad:
        with pytest.raises(FieldError) as error:
            parse_changes(body)
        assert error.value.field == field and str(error.value).startswith(field), body


def test_changed_files_are_sorted_into_created_modified_and_tests() -> None:
    create, modify, tests = classify_files(
        [("src/new.py", "added"), ("README.md", "modified"), ("tests/test_new.py", "added"), ("old.py", "renamed")]
    )
    assert (create, modify, tests) == (["src/new.py"], ["README.md", "old.py"], ["tests/test_new.py"])


def test_slack_origins_round_trip_through_source_ids() -> None:
    command = SlackOrigin("command", "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert SlackOrigin.from_source_id(command.source_id) == command
    threaded = SlackOrigin.for_message("C1", "1700000000.000200", "1700000000.000100")
    back = SlackOrigin.from_source_id(threaded.source_id)
    assert (back.channel, back.thread_ts, back.key) == ("C1", "1700000000.000100", "C1:1700000000.000200")
    top = SlackOrigin.from_source_id(SlackOrigin.for_message("C1", "1700000000.000200", None).source_id)
    assert top.thread_ts == "1700000000.000200"


def test_status_messages() -> None:
    assert status_change_text(4, "Fix", "in_review", "https://x/pr/1") == (
        "Coding request #4 (Fix) is in review. Pull request: https://x/pr/1"
    )
