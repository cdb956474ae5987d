"""The weekly report's chart: a PNG of this week beside the last (matplotlib, the Agg backend, no display).

Four panels: new issues by channel, first response and resolution (median and p90, hours), SLA met and
CSAT, issues resolved per assignee. matplotlib is imported here only, when a chart is drawn, so the web
process and the workers that never draw one do not load it.
"""

from __future__ import annotations

import io
from typing import Any

from mappers.weekly_report import SlaMet, WeekFigures, WeeklyReport

SIZE = (10.0, 7.0)  # inches
DPI = 100  # so the PNG is 1000 x 700 pixels: within Telegram's sendPhoto limits (width + height <= 10000)
THIS, LAST = "#1f77b4", "#b0b0b0"


def chart_png(report: WeeklyReport) -> bytes:
    """The report's chart as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    this, last = report.this, report.last
    first, last_day = report.days
    figure.suptitle(f"Weekly report {first:%Y-%m-%d} - {last_day:%Y-%m-%d} (grey: the week before)")
    volume, times, quality, people = figure.subplots(2, 2).flat
    _pairs(volume, "New issues by channel", _union(this.new_by_channel, last.new_by_channel), counts=True)
    hours = "working hours" if report.business_hours else "hours"
    _pairs(times, f"First response / resolution ({hours})", _durations(this, last))
    _pairs(quality, "SLA met (%) and CSAT (x20)", _quality(this, last))
    _pairs(people, "Resolved per assignee", _union(this.resolved_by, last.resolved_by), counts=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


Pairs = list[tuple[str, float, float]]  # (label, this week, last week)


def _pairs(axes: Any, title: str, pairs: Pairs, *, counts: bool = False) -> None:
    """Grouped bars: this week beside last week per label; "no data" when there is none. ``counts``:
    whole numbers on the axis."""
    axes.set_title(title, fontsize=10)
    if not pairs:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    positions = range(len(pairs))
    axes.bar([p + 0.2 for p in positions], [now for _l, now, _b in pairs], width=0.4, color=THIS)
    axes.bar([p - 0.2 for p in positions], [before for _l, _n, before in pairs], width=0.4, color=LAST)
    axes.set_xticks(list(positions), [label for label, _n, _b in pairs], fontsize=8, rotation=20)
    if counts:
        from matplotlib.ticker import MaxNLocator

        axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _union(now: dict[str, int], before: dict[str, int]) -> Pairs:
    return [(name, now.get(name, 0), before.get(name, 0)) for name in dict.fromkeys([*now, *before])]


def _hours(value: Any) -> float:
    return value.total_seconds() / 3600 if value is not None else 0.0


def _durations(this: WeekFigures, last: WeekFigures) -> Pairs:
    return [
        ("response median", _hours(this.first_response.median), _hours(last.first_response.median)),
        ("response p90", _hours(this.first_response.p90), _hours(last.first_response.p90)),
        ("resolution median", _hours(this.resolution.median), _hours(last.resolution.median)),
        ("resolution p90", _hours(this.resolution.p90), _hours(last.resolution.p90)),
    ]


def _quality(this: WeekFigures, last: WeekFigures) -> Pairs:
    def met(figures: WeekFigures, metric: str) -> float:
        return (figures.sla.get(metric, SlaMet()).share or 0.0) * 100

    metrics = sorted({*this.sla, *last.sla})
    pairs = [(f"SLA {m.replace('_', ' ')}", met(this, m), met(last, m)) for m in metrics]
    return [*pairs, ("CSAT", (this.csat.average or 0.0) * 20, (last.csat.average or 0.0) * 20)]
