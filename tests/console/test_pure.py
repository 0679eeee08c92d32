"""The console's pure parts: cookie signing, CSRF tokens, SVG charts, time filters."""

from __future__ import annotations

from datetime import timedelta

from handlers.console import charts, filters, sessions

KEY = b"k" * 32


def test_a_signed_cookie_round_trips_and_a_tampered_one_does_not() -> None:
    cookie = sessions.sign(KEY, "abc")
    assert sessions.unsign(KEY, cookie) == "abc"
    assert sessions.unsign(KEY, "abd" + cookie[3:]) is None
    assert sessions.unsign(b"x" * 32, cookie) is None
    assert sessions.unsign(KEY, None) is None and sessions.unsign(KEY, "no-dot") is None


def test_csrf_tokens_are_per_session() -> None:
    token = sessions.csrf_token(KEY, "s1")
    assert sessions.csrf_ok(KEY, "s1", token)
    assert not sessions.csrf_ok(KEY, "s2", token)
    assert not sessions.csrf_ok(KEY, "s1", None)
    assert token != sessions.sign(KEY, "s1").rpartition(".")[2]  # a cookie's MAC is not a CSRF token


def test_charts_are_svg_with_escaped_labels_and_no_inline_style() -> None:
    svg = charts.lines("p95 <ms>", ["a", "b"], {"<agent>": [1.0, None], "b": [2.0, 3.0]})
    assert svg.startswith("<svg") and "&lt;agent&gt;" in svg and "<agent>" not in svg and "style=" not in svg
    bars = charts.stacked("cost", ["d1", "d2"], {"x": [1.0, 2.0], "y": [0.5, 0.0]}, {"x": 1.5})
    assert bars.count("<rect") == 3 + 2 and 'class="budget s0"' in bars
    assert charts.lines("empty", [], {}).startswith("<svg")


def test_ages_read_in_two_units() -> None:
    assert filters.age(timedelta(seconds=45)) == "45 s"
    assert filters.age(timedelta(hours=3, minutes=12, seconds=5)) == "3 h 12 min"
    assert filters.age(timedelta(days=2, hours=1)) == "2 d 1 h"
    assert filters.age(None) == ""
