"""What a report firing posts: the text and the chart of the week before its due time; its figures are
kept for ``/metrics`` on the way (jobs/reports/gauges.py)."""

from __future__ import annotations

import datetime as dt

from jobs.context import Context
from jobs.reports.gauges import publish_report
from jobs.reports.weekly import weekly_report
from mappers.report_chart import chart_png
from mappers.weekly_report import report_text


def render_report(ctx: Context, due: dt.datetime) -> tuple[str, bytes]:
    """The report of the last whole week before ``due``, as text and as a PNG chart."""
    report = weekly_report(ctx, due)
    publish_report(ctx.redis, report.this, due)
    return report_text(report), chart_png(report)
