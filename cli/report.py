"""``trackerhub report weekly [--since DATE] [--png FILE]``: the weekly report, printed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from cli.common import context_or_exit, main


@main.group()
def report() -> None:
    """Reports of the team's work (the rule file's reports:)."""


@report.command("weekly")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="the week's first day in the report calendar's zone (default: the last whole week, Monday-Sunday)",
)
@click.option(
    "--png", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the chart here"
)
def weekly(since: dt.datetime | None, png: Path | None) -> None:
    """New issues, first response, resolution, SLA met, CSAT and per-assignee counts, beside the week
    before."""
    from jobs.clock import utcnow
    from jobs.reports.weekly import weekly_report
    from mappers.report_chart import chart_png
    from mappers.weekly_report import report_text

    figures = weekly_report(context_or_exit(), utcnow(), since.date() if since is not None else None)
    click.echo(report_text(figures))
    if png is not None:
        png.write_bytes(chart_png(figures))
        click.echo(f"chart: {png}")
