"""Inline SVG charts for the HTML report: drawn here, so the report needs no script and no network.

Every text that reaches the SVG goes through ``_e`` (XML escaping); the result is ``Markup`` so the
template inserts it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from minescope import registry

from . import fmt


def kind_colour(kind: str) -> str:
    """The colour a kind declares (``minescope.registry``)."""
    spec = registry.kind(kind)
    return spec.colour if spec is not None else "#555"


BAR_COLOR = "#c0392b"
LABEL_CHARS = 25  # longer labels are cut; the full text is in the <title> tooltip


def _e(s: object) -> str:
    return escape(str(s), quote=True)


def _cut(s: str, n: int = LABEL_CHARS) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


@dataclass(slots=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed at the end of the bar
    low: float | None = None  # whisker
    high: float | None = None
    color: str = BAR_COLOR


def bar_chart(bars: list[Bar], *, label_width: int = 180, width: int = 620, aria: str = "") -> Markup:
    """Horizontal bars, one per row, with optional low–high whiskers."""
    if not bars:
        return Markup("")
    row, bar_h, text_w = 26, 14, 150
    plot_w = width - label_width - text_w
    top = max(max(b.high or 0.0, b.value) for b in bars) or 1.0
    height = row * len(bars) + 8

    def x(v: float) -> float:
        return label_width + plot_w * max(0.0, v) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{_e(aria)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for i, b in enumerate(bars):
        y = 4 + i * row
        cy = y + row / 2
        end = max(x(b.value), label_width + 1)
        parts.append(f"<g><title>{_e(b.label)}: {_e(b.text)}</title>")
        parts.append(
            f'<text x="{label_width - 8}" y="{cy + 4:.1f}" text-anchor="end" class="lbl">'
            f"{_e(_cut(b.label))}</text>"
        )
        parts.append(
            f'<rect x="{label_width}" y="{cy - bar_h / 2:.1f}" width="{end - label_width:.1f}" '
            f'height="{bar_h}" fill="{_e(b.color)}" rx="2"/>'
        )
        if b.low is not None and b.high is not None:
            lo, hi = x(b.low), x(b.high)
            parts.append(
                f'<path d="M{lo:.1f},{cy:.1f}H{hi:.1f}M{lo:.1f},{cy - 6:.1f}V{cy + 6:.1f}'
                f'M{hi:.1f},{cy - 6:.1f}V{cy + 6:.1f}" stroke="#222" stroke-width="1.5" fill="none"/>'
            )
            end = max(end, hi)
        parts.append(f'<text x="{end + 6:.1f}" y="{cy + 4:.1f}" class="val">{_e(b.text)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(slots=True)
class Segment:
    start: float
    end: float
    kind: str
    tooltip: str


def timeline(
    rows: list[tuple[str, list[Segment]]],
    t0: float,
    t1: float,
    *,
    legend: list[tuple[str, str]],
    width: int = 1000,
    aria: str = "",
) -> Markup:
    """One row per host, one bar per flow, coloured by finding kind; clock times in UTC+8."""
    if not rows:
        return Markup("")
    label_w, row, axis_h, legend_h = 140, 18, 28, 24
    plot_w = width - label_w - 20
    span = max(t1 - t0, 1.0)
    height = legend_h + row * len(rows) + axis_h

    def x(ts: float) -> float:
        return label_w + plot_w * (ts - t0) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{_e(aria)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    lx = label_w
    for text, color in legend:
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{_e(color)}"/>')
        parts.append(f'<text x="{lx + 16}" y="16" class="lbl">{_e(text)}</text>')
        lx += 28 + 14 * len(text) if any(ord(c) > 0x2E80 for c in text) else 28 + 7 * len(text)
    for i, (label, segments) in enumerate(rows):
        y = legend_h + i * row
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row}" fill="#f6f6f6"/>')
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" class="lbl mono">{_e(label)}</text>'
        )
        for s in segments:
            x0 = x(s.start)
            w = max(x(s.end) - x0, 2.0)  # a one-packet flow still shows
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                f'fill="{kind_colour(s.kind)}" opacity="0.85">'
                f"<title>{_e(s.tooltip)}</title></rect>"
            )
    base = legend_h + row * len(rows)
    parts.append(f'<path d="M{label_w},{base}H{label_w + plot_w}" stroke="#444"/>')
    ticks = 6
    multi_day = fmt.clock(t0)[:10] != fmt.clock(t1)[:10]
    for k in range(ticks + 1):
        ts = t0 + span * k / ticks
        tx = x(ts)
        anchor = "start" if k == 0 else "end" if k == ticks else "middle"
        text = fmt.clock(ts)[5:16] if multi_day else fmt.clock(ts, with_date=False)
        parts.append(f'<path d="M{tx:.1f},{base}V{base + 4}" stroke="#444"/>')
        parts.append(
            f'<text x="{tx:.1f}" y="{base + 17}" text-anchor="{anchor}" class="val">{_e(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
