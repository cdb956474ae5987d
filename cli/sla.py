"""``trackerhub sla report --since DATE``: SLA targets met and breached per priority and team."""

from __future__ import annotations

import datetime as dt

import click

from cli.common import config_or_exit, main, settings_or_exit


@main.group()
def sla() -> None:
    """Service level agreements (the rule file's sla:)."""


@sla.command("report")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="issues created since (UTC)")
@click.option("--tracker", default=None, help="tracker instance (default: the environment's)")
def report(since: dt.datetime, tracker: str | None) -> None:
    """Met, breached and open SLA clocks per priority, team (project / board) and metric."""
    from jobs.clock import utcnow
    from jobs.context import get_context
    from jobs.sla_report import sla_report

    settings = settings_or_exit()
    config_or_exit(settings)
    name = tracker or ("kaiten" if settings.KAITEN_URL and not settings.JIRA_URL else "jira")
    for line in sla_report(get_context(), name, since.replace(tzinfo=dt.UTC), utcnow()):
        click.echo(line)
