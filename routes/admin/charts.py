"""The dashboard's charts as inline SVG, drawn on the server: no chart library, no script, no CDN.

:func:`bar_chart` is pure (a :class:`Chart` in, markup out): bars per label, one colour per series,
stacked or side by side. The chart carries its title (``<title>``, and ``aria-labelledby``) and each
bar its label and value (a ``<title>`` a screen reader or a hover reads); the page also shows the same
numbers as a table (:func:`rows`), for readers that do not see pictures. Every text is escaped.
Colours are SVG presentation attributes, which the console's CSP (no inline styles) allows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

WIDTH, HEIGHT = 400, 190  # the viewBox: about the size a chart is shown at, so its 12-unit text reads
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 42  # the plot's margins: the value axis left, labels and legend below
ALL_LABELS = 8  # up to this many labels each is written under its bar; more: the first, middle and last
COLOURS = ("#0b63c5", "#e07b00", "#2a9d3a", "#b00020", "#7b4bc4", "#6b6b6b")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label (None: no value there), in its own colour or the
    palette's next."""

    name: str
    values: tuple[float | None, ...]
    colour: str = ""


@dataclass(frozen=True)
class Chart:
    """A bar chart: ``labels`` along the bottom, a bar (or a stack) per label and series.

    ``extra`` are series shown in the table only (a count beside an average); ``empty`` is what the
    chart says when there is nothing to draw."""

    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    unit: str = ""
    empty: str = "No data."
    extra: tuple[Series, ...] = field(default_factory=tuple)


def bar_chart(chart: Chart) -> Markup:
    """The chart as an ``<svg>`` element, scaled to its container's width."""
    ident = f"chart-{next(_ids)}"
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{ident}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}">{escape(chart.title)}</title>'
    )
    top = scale_top(chart)
    if not chart.labels or top == 0:
        middle = f'<text x="{WIDTH / 2:g}" y="{HEIGHT / 2:g}" text-anchor="middle" fill="currentColor">'
        return Markup(f"{head}{middle}{escape(chart.empty)}</text></svg>")  # noqa: S704 (texts escaped)
    parts = [head, _axis(top, chart.unit), *_bars(chart, top), *_ticks(chart.labels), *_legend(chart.series)]
    return Markup("".join(parts) + "</svg>")  # noqa: S704 (every text in the parts is escaped)


def scale_top(chart: Chart) -> float:
    """The value at the top of the plot: the largest bar (a stack's sum when stacked); 0 when none."""
    if chart.stacked:
        sums = [sum(s.values[i] or 0 for s in chart.series) for i in range(len(chart.labels))]
        return max(sums, default=0)
    return max((v or 0 for s in chart.series for v in s.values), default=0)


def _axis(top: float, unit: str) -> str:
    bottom = HEIGHT - BOTTOM
    label = f"{_number(top)} {unit}".strip()
    return (
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="currentColor" '
        f'stroke-opacity="0.4"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" stroke="currentColor" '
        f'stroke-opacity="0.15"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="12" fill="currentColor">'
        f"{escape(label)}</text>"
        f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end" font-size="12" fill="currentColor">0</text>'
    )


def _bars(chart: Chart, top: float) -> list[str]:
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(chart.labels)
    lanes = 1 if chart.stacked else len(chart.series)
    width = max(slot * 0.8 / lanes, 0.5)
    bars = []
    for i, label in enumerate(chart.labels):
        base = 0.0
        for lane, series in enumerate(chart.series):
            value = series.values[i] if i < len(series.values) else None
            if not value:
                continue
            height = value / top * plot_height
            x = LEFT + i * slot + slot * 0.1 + (0 if chart.stacked else lane * width)
            y = HEIGHT - BOTTOM - base - height
            tip = f"{label} · {series.name}: {_number(value)} {chart.unit}".strip()
            bars.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="{_colour(series, lane)}"><title>{escape(tip)}</title></rect>'
            )
            if chart.stacked:
                base += height
    return bars


def _ticks(labels: Sequence[str]) -> list[str]:
    """Each label under its bar; of many, the first under the plot's left edge, the last under its
    right, and one in the middle (more would overlap on a phone)."""
    slot = (WIDTH - LEFT - RIGHT) / len(labels)
    last = len(labels) - 1
    if len(labels) <= ALL_LABELS:
        placed = {i: (LEFT + (i + 0.5) * slot, "middle") for i in range(len(labels))}
    else:
        placed = {0: (LEFT, "start"), last // 2: (LEFT + (last // 2 + 0.5) * slot, "middle")}
        placed[last] = (WIDTH - RIGHT, "end")
    return [
        f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="{anchor}" font-size="12" '
        f'fill="currentColor">{escape(labels[i])}</text>'
        for i, (x, anchor) in sorted(placed.items())
    ]


def _legend(series: Sequence[Series]) -> list[str]:
    parts, x = [], float(LEFT)
    for n, one in enumerate(series):
        colour = _colour(one, n)
        parts.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{HEIGHT - 5}" font-size="12" fill="currentColor">'
            f"{escape(one.name)}</text>"
        )
        x += 26 + 7 * len(one.name)
    return parts


def _colour(series: Series, n: int) -> str:
    return escape(series.colour) or COLOURS[n % len(COLOURS)]


def rows(chart: Chart) -> list[tuple[str, list[str]]]:
    """The chart's numbers as table rows: each label with its series' values (drawn ones, then extra)."""
    every = (*chart.series, *chart.extra)
    return [
        (label, [_number(s.values[i]) if i < len(s.values) else "" for s in every])
        for i, label in enumerate(chart.labels)
    ]


def _number(value: float | None) -> str:
    """A value as the chart writes it: whole numbers plainly, others to two places; "" for none."""
    if value is None:
        return ""
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
