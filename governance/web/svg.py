"""Small server-side SVG charts: horizontal bars, stacked bars and lines, no JavaScript.

Every chart is an inline ``<svg role="img">`` labelled by its own ``<title>`` and
``<desc>`` (``aria-labelledby``), and the page pairs it with a data table holding the same
numbers: the chart is a picture of the table, never the only place a number is. Series
differ by more than colour: bar series by fill pattern (solid, hatched, dotted,
cross-hatched) and line series by dash and marker shape, each named in a legend drawn in
the chart; bars carry their value as text. The colours are dark enough for 3:1 contrast
against white (WCAG 1.4.11) and text is drawn in the page's text colour.

Nothing here loads anything: no script, no font, no external reference. Every text is
escaped here, so callers pass plain strings (translated already).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "COLOURS",
    "Series",
    "bar_chart",
    "line_chart",
    "nice_max",
    "stacked_bar_chart",
    "tick_positions",
]

#: Series colours, each with at least 3:1 contrast against white.
COLOURS = ("#0b5394", "#a61b1b", "#7a4d00", "#1b6b2f", "#5b2a86", "#00606b", "#4f5661", "#8a1c5a")
#: Line series: dash patterns, paired with :data:`_MARKERS` so no two lines look alike.
_DASHES = ("", "6 3", "2 3", "10 3 2 3", "1 5", "12 4", "4 2 1 2", "8 2 8 6")
_MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square", "triangle", "diamond")
_TEXT = "#1a1a1a"
_GRID = "#d0d4da"
_WIDTH = 640
_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Series:
    """One named series of values (one value per category or point)."""

    name: str
    values: Sequence[float]


def nice_max(value: float) -> float:
    """The top of a four-step axis over counts up to ``value``: 4 x a round whole step.

    The step is 1, 2 or 5 (and 2.5 from 10 on) times a power of ten, so every tick is a
    whole number; 4 for 0.
    """
    wanted = max(value, 0) / 4
    power = 1
    while True:
        steps = (1, 2, 2.5, 5) if power >= 10 else (1, 2, 5)
        for step in steps:
            if step * power >= wanted:
                return float(4 * step * power)
        power *= 10


def tick_positions(count: int, most: int = 8) -> list[int]:
    """At most ``most`` indices of ``count`` points, evenly spread, first and last included."""
    if count <= most:
        return list(range(count))
    return sorted({round(k * (count - 1) / (most - 1)) for k in range(most)})


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _columns(char: str) -> int:
    """Columns a character takes: Chinese (wide) characters twice a Latin letter's."""
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _short(text: str, limit: int = 26) -> str:
    """``text`` cut to ``limit`` columns (with an ellipsis), so a label fits its space."""
    if sum(_columns(c) for c in text) <= limit:
        return text
    out, used = [], 1  # the ellipsis takes a column
    for char in text:
        used += _columns(char)
        if used > limit:
            break
        out.append(char)
    return "".join(out) + "…"


def _open(chart_id: str, title: str, desc: str, height: float) -> list[str]:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r} is not a plain lower-case name")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {_WIDTH} '
        f'{_num(height)}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _patterns(chart_id: str, count: int) -> str:
    """Fill patterns of the bar series: solid, hatched, dotted, cross-hatched, in turn."""
    out = ["<defs>"]
    for i in range(count):
        colour = COLOURS[i % len(COLOURS)]
        kind = i % 4
        out.append(
            f'<pattern id="{chart_id}-p{i}" patternUnits="userSpaceOnUse" width="6" height="6">'
        )
        if kind == 0:
            out.append(f'<rect width="6" height="6" fill="{colour}"/>')
        elif kind == 1:
            out.append(
                f'<rect width="6" height="6" fill="#fff"/><path d="M-1,1 l2,-2 M0,6 l6,-6 '
                f'M5,7 l2,-2" stroke="{colour}" stroke-width="2"/>'
            )
        elif kind == 2:
            out.append(
                f'<rect width="6" height="6" fill="#fff"/><circle cx="3" cy="3" r="1.6" '
                f'fill="{colour}"/>'
            )
        else:
            out.append(
                f'<rect width="6" height="6" fill="#fff"/><path d="M0,0 l6,6 M6,0 l-6,6" '
                f'stroke="{colour}" stroke-width="1.4"/>'
            )
        out.append("</pattern>")
    out.append("</defs>")
    return "".join(out)


def _swatch_legend(chart_id: str, names: Sequence[str], y: float) -> str:
    out = ['<g class="legend">']
    x = 8.0
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        out.append(
            f'<rect x="{_num(x)}" y="{_num(y - 11)}" width="14" height="14" '
            f'fill="url(#{chart_id}-p{i})" stroke="{colour}"/>'
            f'<text x="{_num(x + 19)}" y="{_num(y)}" fill="{_TEXT}">{escape(name)}</text>'
        )
        x += 19 + 7 * len(name) + 22
    out.append("</g>")
    return "".join(out)


def stacked_bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
) -> Markup:
    """Horizontal bars, one per category, stacked by series; the total written at the end.

    A single series is a plain bar chart (:func:`bar_chart`).
    """
    label_width, right, row, bar = 190.0, 56.0, 30.0, 20.0
    top = 34.0 if len(series) > 1 else 10.0
    height = top + row * max(len(categories), 1) + 24
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    scale_max = nice_max(max(totals, default=0))
    span = _WIDTH - label_width - right
    out = _open(chart_id, title, desc, height)
    out.append(_patterns(chart_id, len(series)))
    if len(series) > 1:
        out.append(_swatch_legend(chart_id, [s.name for s in series], 18))
    base = top + row * len(categories)
    for tick in range(5):
        x = label_width + span * tick / 4
        out.append(
            f'<line x1="{_num(x)}" y1="{_num(top - 4)}" x2="{_num(x)}" y2="{_num(base)}" '
            f'stroke="{_GRID}"/><text x="{_num(x)}" y="{_num(base + 16)}" text-anchor="middle" '
            f'fill="{_TEXT}">{_count(scale_max * tick / 4)}</text>'
        )
    for i, category in enumerate(categories):
        y = top + row * i
        out.append(
            f'<g class="bar"><text x="{_num(label_width - 6)}" y="{_num(y + bar / 2 + 4)}" '
            f'text-anchor="end" fill="{_TEXT}">{escape(_short(category))}</text>'
        )
        x = label_width
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            width = span * value / scale_max
            colour = COLOURS[j % len(COLOURS)]
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(bar)}" '
                f'fill="url(#{chart_id}-p{j})" stroke="{colour}">'
                f"<title>{escape(category)}, {escape(s.name)}: {_count(value)}</title></rect>"
            )
            x += width
        out.append(
            f'<text x="{_num(x + 5)}" y="{_num(y + bar / 2 + 4)}" fill="{_TEXT}" '
            f'font-weight="600">{_count(totals[i])}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped


def bar_chart(
    chart_id: str, title: str, desc: str, categories: Sequence[str], values: Sequence[float]
) -> Markup:
    """Horizontal bars, one per category, each with its value written at its end."""
    return stacked_bar_chart(chart_id, title, desc, categories, [Series(title, values)])


def _marker(shape: str, x: float, y: float, colour: str, size: float = 3.5) -> str:
    if shape == "square":
        return (
            f'<rect x="{_num(x - size)}" y="{_num(y - size)}" width="{_num(2 * size)}" '
            f'height="{_num(2 * size)}" fill="{colour}"/>'
        )
    if shape == "triangle":
        points = f"{_num(x)},{_num(y - size - 1)} {_num(x - size - 1)},{_num(y + size)} "
        points += f"{_num(x + size + 1)},{_num(y + size)}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    if shape == "diamond":
        s = size + 1
        points = f"{_num(x)},{_num(y - s)} {_num(x + s)},{_num(y)} {_num(x)},{_num(y + s)} "
        points += f"{_num(x - s)},{_num(y)}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(size)}" fill="{colour}"/>'


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    points: Sequence[str],
    series: Sequence[Series],
    *,
    flagged: Sequence[tuple[int, int]] = (),
    flag_text: str = "!",
) -> Markup:
    """Lines over ``points`` (x labels), one per series, with a legend under the plot.

    ``flagged`` holds (series index, point index) pairs drawn with a ring and
    ``flag_text`` above the point, so a flagged value does not rely on colour either.
    """
    left, right, top, plot = 48.0, 16.0, 18.0, 170.0
    legend_top = top + plot + 40
    height = legend_top + 18 * max(len(series), 1) + 4
    values = [v for s in series for v in s.values]
    scale_max = nice_max(max(values, default=0))
    span = _WIDTH - left - right
    count = max(len(points), 1)

    def x_of(i: int) -> float:
        return left + span / 2 if count == 1 else left + span * i / (count - 1)

    def y_of(v: float) -> float:
        return top + plot - plot * v / scale_max

    out = _open(chart_id, title, desc, height)
    for tick in range(5):
        value = scale_max * tick / 4
        y = y_of(value)
        out.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(_WIDTH - right)}" y2="{_num(y)}" '
            f'stroke="{_GRID}"/><text x="{_num(left - 6)}" y="{_num(y + 4)}" '
            f'text-anchor="end" fill="{_TEXT}">{_count(value)}</text>'
        )
    for i in tick_positions(len(points)):
        text = points[i]
        out.append(
            f'<text x="{_num(x_of(i))}" y="{_num(top + plot + 18)}" text-anchor="middle" '
            f'fill="{_TEXT}">{escape(text)}</text>'
        )
    for j, s in enumerate(series):
        colour = COLOURS[j % len(COLOURS)]
        dash = _DASHES[j % len(_DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{_num(x_of(i))},{_num(y_of(v))}" for i, v in enumerate(s.values))
        out.append(f'<g class="series"><title>{escape(s.name)}</title>')
        if len(s.values) > 1:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dashed}/>'
            )
        for i, v in enumerate(s.values):
            out.append(_marker(_MARKERS[j % len(_MARKERS)], x_of(i), y_of(v), colour))
        out.append("</g>")
    for j, i in flagged:
        if not (0 <= j < len(series) and 0 <= i < len(series[j].values)):
            continue
        x, y = x_of(i), y_of(series[j].values[i])
        out.append(
            f'<g class="flag"><circle cx="{_num(x)}" cy="{_num(y)}" r="8" fill="none" '
            f'stroke="{_TEXT}" stroke-width="2"/><text x="{_num(x)}" y="{_num(y - 12)}" '
            f'text-anchor="middle" font-weight="700" fill="{_TEXT}">{escape(flag_text)}</text>'
            "</g>"
        )
    out.append('<g class="legend">')
    for j, s in enumerate(series):
        colour = COLOURS[j % len(COLOURS)]
        dash = _DASHES[j % len(_DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        y = legend_top + 18 * j
        out.append(
            f'<line x1="8" y1="{_num(y - 4)}" x2="40" y2="{_num(y - 4)}" stroke="{colour}" '
            f'stroke-width="2"{dashed}/>'
            + _marker(_MARKERS[j % len(_MARKERS)], 24, y - 4, colour)
            + f'<text x="48" y="{_num(y)}" fill="{_TEXT}">{escape(s.name)}</text>'
        )
    out.append("</g></svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
