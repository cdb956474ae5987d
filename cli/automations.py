"""``trackerhub automations``: the rules, what one would fire now, firing it now, an issue's history."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cli.common import config_or_exit, main, settings_or_exit

if TYPE_CHECKING:
    from jobs.context import Context


@main.group()
def automations() -> None:
    """Automation rules (the rule file's automations:)."""


@automations.command("ls")
def list_rules() -> None:
    """Each rule: its trigger, next due time, last run, firings in the last 24 hours, and whether it runs."""
    from jobs.automations.report import rule_lines

    settings = settings_or_exit()
    config_or_exit(settings)
    for line in rule_lines(_context()):
        click.echo(line)


@automations.command("dry-run")
@click.argument("name")
def dry_run(name: str) -> None:
    """One line per issue the rule would fire for now, starting with its key; nothing is written."""
    from jobs.automations.report import dry_run_lines

    settings = settings_or_exit()
    config_or_exit(settings)
    lines, note = dry_run_lines(_context(), name)
    for line in lines:
        click.echo(line)
    if note:
        click.echo(note, err=True)


@automations.command("run")
@click.argument("name")
def run(name: str) -> None:
    """Fire what the rule has due now and run its firings here (each still exactly once)."""
    from jobs.automations.report import run_lines

    settings = settings_or_exit()
    config_or_exit(settings)
    lines, failed = run_lines(_context(), name)
    for line in lines:
        click.echo(line)
    sys.exit(1 if failed else 0)


@automations.command("history")
@click.argument("issue")
def history(issue: str) -> None:
    """The issue's firings, oldest first: when, rule, occurrence, status, actions done, error."""
    from jobs.automations.report import history_lines

    settings_or_exit()
    for line in history_lines(_context(), issue):
        click.echo(line)


def _context() -> Context:
    from jobs.context import get_context

    try:
        return get_context()
    except Exception as exc:
        raise click.ClickException(f"cannot reach the hub's stores: {exc}") from None
