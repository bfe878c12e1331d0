"""Charts as inline SVG, drawn on the server: no script, no library, a few kilobytes.

Bars are stacked by sex (the breakdown the programmes report), with a text label on
each bar so the chart reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from core.states import Sex

COLOURS = {Sex.female: "#b5006a", Sex.male: "#0b5394", Sex.unknown: "#999999"}
SexCounts = dict[Sex, int]


def column_chart(title: str, series: Sequence[tuple[str, SexCounts]], height: int = 160) -> Markup:
    """Vertical stacked columns, one per label (months)."""
    width = max(240, 36 * len(series) + 40)
    peak = max((sum(c.values()) for _, c in series), default=0) or 1
    plot = height - 40
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, counts) in enumerate(series):
        x = 30 + i * 36
        y = float(10 + plot)
        for sex in (Sex.female, Sex.male, Sex.unknown):
            h = round(plot * counts[sex] / peak, 1)
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="26" height="{h}" fill="{COLOURS[sex]}">'
                f"<title>{escape(label)} {sex.value}: {counts[sex]}</title></rect>"
            )
        total = sum(counts.values())
        parts.append(f'<text x="{x + 13}" y="{y - 3:.1f}" text-anchor="middle">{total}</text>')
        parts.append(
            f'<text x="{x + 13}" y="{height - 14}" text-anchor="middle">{escape(label[2:])}</text>'
        )
    parts.append(f'<line x1="26" y1="{10 + plot}" x2="{width}" y2="{10 + plot}" stroke="#444"/>')
    parts.append("</svg>")
    # Every label above went through escape(); the rest is numbers and fixed markup.
    return Markup("".join(parts))  # noqa: S704


def bar_chart(title: str, rows: Sequence[tuple[str, SexCounts]], width: int = 520) -> Markup:
    """Horizontal stacked bars, one per label (districts, countries, indicators)."""
    row_h = 22
    height = row_h * len(rows) + 10
    label_w = 190
    plot = width - label_w - 50
    peak = max((sum(c.values()) for _, c in rows), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, counts) in enumerate(rows):
        y = 5 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:32])}</text>'
        )
        x = float(label_w)
        for sex in (Sex.female, Sex.male, Sex.unknown):
            w = round(plot * counts[sex] / peak, 1)
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w}" height="{row_h - 6}" '
                f'fill="{COLOURS[sex]}"><title>{escape(label)} {sex.value}: {counts[sex]}</title>'
                "</rect>"
            )
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}">{sum(counts.values())}</text>')
    parts.append("</svg>")
    # Every label above went through escape(); the rest is numbers and fixed markup.
    return Markup("".join(parts))  # noqa: S704
