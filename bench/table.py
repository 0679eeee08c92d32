"""The benchmark's table: figures, baselines, ratios and goals (bench/run.py measures them)."""

from __future__ import annotations

from typing import Any

from bench.load import Result


def table(
    svc: dict[str, Any],
    base: dict[str, dict[str, Result]],
    loads: tuple[float, ...],
    base_cpu: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The rows of the report: each figure of the service beside its baseline, the ratio and the goal."""
    s, b2 = svc["results"], base["b2"]
    rows: list[dict[str, Any]] = []

    def row(figure: str, mine: float, theirs: float | None, goal: str, met: bool | None, unit: str) -> None:
        ratio = mine / theirs if theirs else None
        rows.append(dict(figure=figure, service=mine, baseline=theirs, ratio=ratio, goal=goal, met=met, unit=unit))

    for name in ("b0", "b1", "b2"):
        row(f"ceiling vs {name.upper()} (deliveries/s)", s["ceiling"].rate, base[name]["ceiling"].rate, "", None, "/s")
    accept = s["ceiling"].rate / b2["ceiling"].rate if b2["ceiling"].rate else 0
    row("accepting a webhook vs B2", s["ceiling"].rate, b2["ceiling"].rate, ">= 0.8x", accept >= 0.8, "/s")
    processed = s["ceiling"].sent / (s["ceiling"].elapsed_s + svc["drain_s"])
    row("processing vs B2", processed, b2["ceiling"].rate, ">= 0.5x", processed >= 0.5 * b2["ceiling"].rate, "/s")
    for load in loads:
        key = f"open@{int(load * 100)}"
        p99 = s[key].p(99)
        goal, met = ("<= 25 ms", p99 <= 25) if key == "open@50" else ("", None)
        row(f"answer p99 at {int(load * 100)}% of ceiling", p99, b2[key].p(99), goal, met, "ms")
    if svc.get("outbox_drain_s") is not None:
        row("calls out done, after the inbox (s)", svc["outbox_drain_s"], None, "", None, "s")
    e2e = svc["e2e"].get("p99")
    if e2e is not None:
        row("end to end p99 (arrival -> processed)", float(e2e), None, "<= 100 ms", float(e2e) <= 100, "ms")
    for part in ("service", "postgres"):
        mine, theirs = svc["cpu_ms"].get(part), base_cpu.get("b2", {}).get(part)
        if mine is not None:
            row(f"CPU per delivery, {part} (ms, accept + process + calls out)", mine, theirs, "", None, "ms")
    row("peak RSS during ingest", svc["peak_rss_mb"], None, "<= 150 MB", svc["peak_rss_mb"] <= 150, "MB")
    row("start to ready (DATABASE_URL, migrations)", svc["ready_s"], None, "", None, "s")
    return rows


def show(rows: list[dict[str, Any]]) -> str:
    def fmt(x: Any) -> str:
        if x is None:
            return "-"
        if isinstance(x, bool):
            return "yes" if x else "NO"
        return f"{x:,.2f}" if isinstance(x, float) else str(x)

    header = f"{'figure':<44} {'service':>10} {'baseline':>10} {'ratio':>7} {'goal':>9} {'met?':>5}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['figure']:<44} {fmt(r['service']):>10} {fmt(r['baseline']):>10} {fmt(r['ratio']):>7} "
            f"{r['goal'] or '-':>9} {fmt(r['met']):>5}"
        )
    return "\n".join(lines)
