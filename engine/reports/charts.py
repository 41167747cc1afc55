"""Server-rendered SVG bar charts for report sections (no JavaScript, no CDN)."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from engine.reports.base import Section

COLOURS = ("#2f6db5", "#e0892b", "#3c9a5f", "#b5443a", "#7a5bb5")
WIDTH, LABEL_W, BAR_H, GAP, MAX_ROWS = 760, 210, 12, 8, 30


LINE_CHARS = 32  # what fits in LABEL_W at 11px


def label_lines(name: str, width: int = LINE_CHARS) -> list[str]:
    """Wrap a bar's label on two lines at most, cutting the rest with an ellipsis (the
    whole label stays in the bar's tooltip)."""
    words, lines = name.split(), [""]
    for word in words:
        candidate = f"{lines[-1]} {word}".strip()
        if len(candidate) <= width or not lines[-1]:
            lines[-1] = candidate
        elif len(lines) < 2:
            lines.append(word)
        else:
            lines[-1] = candidate
            break
    if len(lines[-1]) > width or " ".join(lines) != " ".join(words):
        lines[-1] = lines[-1][: width - 1].rstrip() + "…"
    return [line[:width] for line in lines]


def _number(value) -> Decimal:
    return Decimal(value) if isinstance(value, (int, Decimal)) and value is not None else Decimal(0)


def bar_chart(section: Section, rows: list[dict]) -> str:
    """Return an SVG grouped horizontal bar chart of the section's chart columns, or ''."""
    spec = section.chart
    if not spec or not rows:
        return ""
    labels = {c.key: c.label for c in section.columns}
    series, rows = spec["values"], rows[:MAX_ROWS]
    top = max([_number(r.get(k)) for r in rows for k in series] + [Decimal(1)])
    group_h = max(BAR_H * len(series), 24) + GAP  # room for a label on two lines
    legend_h = 22
    height = legend_h + group_h * len(rows) + 4
    scale = Decimal(WIDTH - LABEL_W - 60) / top
    title = escape(section.title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{title}" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width:{WIDTH}px">',
        f"<title>{title}</title>",
    ]
    for i, key in enumerate(series):
        x = 10 + i * 145
        out.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{COLOURS[i % 5]}"/>'
            f'<text x="{x + 14}" y="13" font-size="11">{escape(labels[key])}</text>'
        )
    for r, row in enumerate(rows):
        y = legend_h + r * group_h
        name = " / ".join(
            str(row.get(k) or "")
            for k in (spec["label"], spec.get("label2"))
            if k and (k == spec["label"] or spec.get("label2"))
        )
        lines = label_lines(name)
        first = y + group_h / 2 + 3 - 6 * (len(lines) - 1)
        spans = "".join(
            f'<tspan x="{LABEL_W - 6}" y="{first + 12 * n}">{escape(line)}</tspan>' for n, line in enumerate(lines)
        )
        out.append(f'<text font-size="11" text-anchor="end"><title>{escape(name)}</title>{spans}</text>')
        for i, key in enumerate(series):
            value = _number(row.get(key))
            w = int(value * scale) if value > 0 else 0
            by = y + i * BAR_H
            out.append(
                f'<rect x="{LABEL_W}" y="{by}" width="{w}" height="{BAR_H - 2}" '
                f'fill="{COLOURS[i % 5]}"><title>{escape(labels[key])}: {value}</title>'
                f'</rect><text x="{LABEL_W + w + 4}" y="{by + BAR_H - 3}" '
                f'font-size="10">{value}</text>'
            )
    out.append("</svg>")
    return "".join(out)
