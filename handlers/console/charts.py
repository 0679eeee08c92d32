"""Server-rendered SVG charts (pure): line charts per agent, stacked daily bars with budget lines.

Colours come from classes (``s0`` … ``s7``) styled by console.css: no inline style, so the strict CSP holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
SERIES = 8
END = '<text class="tick" x="{x}" y="{y}" text-anchor="end">{label}</text>'


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"


def _frame(title: str, body: list[str], top: float, legend: Sequence[str]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 18 * ((len(legend) + 3) // 4)}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{escape(_fmt(top))}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
        *body,
    ]
    for i, name in enumerate(legend):
        x, y = 8 + (i % 4) * 158, HEIGHT + 4 + 18 * (i // 4)
        parts.append(f'<rect class="s{i % SERIES}" x="{x}" y="{y}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{y + 9}">{escape(name[:22])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lines(title: str, xs: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> str:
    """One line per series over the labels ``xs`` (None leaves a gap)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(xs) - 1, 1)
    body: list[str] = []
    for i, (_, vs) in enumerate(series.items()):
        points = [
            f"{LEFT + j * step:.1f},{TOP + plot_h - (v / top) * plot_h:.1f}" for j, v in enumerate(vs) if v is not None
        ]
        if points:
            body.append(f'<polyline class="line s{i % SERIES}" points="{" ".join(points)}"/>')
    if xs:
        body.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{escape(xs[0])}</text>')
        body.append(
            f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(xs[-1])}</text>'
        )
    return _frame(title, body, top, list(series))


def stacked(title: str, xs: Sequence[str], series: Mapping[str, Sequence[float]], budgets: Mapping[str, float]) -> str:
    """Bars per label stacked by series, and a dashed line per series' budget."""
    totals = [sum(vs[j] for vs in series.values()) for j in range(len(xs))]
    top = max([*totals, *budgets.values()], default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(xs), 1)
    body: list[str] = []
    for j, label in enumerate(xs):
        base = 0.0
        for i, (name, vs) in enumerate(series.items()):
            if vs[j] <= 0:
                continue
            h = vs[j] / top * plot_h
            y = TOP + plot_h - (base / top) * plot_h - h
            body.append(
                f'<rect class="s{i % SERIES}" x="{LEFT + j * slot + 2:.1f}" y="{y:.1f}" width="{max(slot - 4, 1):.1f}" '
                f'height="{h:.1f}"><title>{escape(label)} {escape(name)}: {escape(_fmt(vs[j]))}</title></rect>'
            )
            base += vs[j]
    for i, name in enumerate(series):
        if name in budgets:
            y = TOP + plot_h - budgets[name] / top * plot_h
            body.append(
                f'<line class="budget s{i % SERIES}" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}">'
                f"<title>budget {escape(name)}: {escape(_fmt(budgets[name]))}</title></line>"
            )
    if xs:
        body.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{escape(xs[0])}</text>')
        body.append(
            f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(xs[-1])}</text>'
        )
    return _frame(title, body, top, list(series))
