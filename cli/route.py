"""``trackerhub route ISSUE ROUTE [--set FIELD=VALUE ...] [--dry-run]`` and ``trackerhub route log``.

The CLI goes through the same routing service as the page and the API (``jobs.routing.api``): the
request is journaled and audited as theirs are, then run here, in this process, so the command ends
with the target's key (a worker that took the job first is waited for). Exit codes: 0 routed (or a
dry run with nothing missing), 1 refused or failed (the reason on stderr), 2 required fields missing or
values invalid (named on stderr).
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from cli.common import config_or_exit, main, settings_or_exit

EXIT_MISSING = 2
POLL_SECONDS = 0.5


class _RouteGroup(click.Group):
    """``route ISSUE ROUTE …`` runs a route; ``route log`` reads the audit."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group(cls=_RouteGroup)
def route() -> None:
    """Route an issue to another team (``route ISSUE ROUTE``), or read the routing audit (``route log``)."""


@route.command("run", hidden=True)
@click.argument("issue")
@click.argument("route_id", metavar="ROUTE")
@click.option(
    "--set", "values", multiple=True, metavar="FIELD=VALUE", help="a target field's value (id or name)"
)
@click.option("--dry-run", is_flag=True, help="print the autofill preview; write nothing")
@click.option("--tracker", default=None, help="the tracker instance the issue is in (default: by its key)")
@click.option(
    "--wait", "wait_seconds", default=300.0, show_default=True, help="seconds to wait for the route"
)
def run(
    issue: str, route_id: str, values: Sequence[str], dry_run: bool, tracker: str | None, wait_seconds: float
) -> None:
    """Route ISSUE by ROUTE and print the target issue's key."""
    from jobs.context import get_context
    from jobs.routing import api
    from jobs.routing.errors import PlanRefused, RoutingError
    from jobs.routing.job import run_route_with

    settings_or_exit()
    config_or_exit(settings_or_exit())
    supplied = _supplied(values)
    ctx = get_context()
    try:
        if dry_run:
            plan = api.preview(ctx, route_id, issue, supplied, tracker=tracker)
            _print_plan(plan)
            if not plan.ready:
                _refuse_plan(plan)
            return
        request = api.submit(ctx, route_id, issue, supplied, actor=_actor(), via="cli", tracker=tracker)
    except PlanRefused as exc:
        _refuse_plan(exc.plan)
    except RoutingError as exc:
        raise click.ClickException(str(exc)) from None
    ended = run_route_with(ctx, request.id)
    deadline = time.monotonic() + wait_seconds
    while (ended is None or not ended.finished) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)  # a worker holds the job: wait for it
        ended = api.status(ctx, request.id)
    if ended is None or not ended.finished:
        state = f"{ended.status}: {ended.reason}" if ended is not None and ended.reason else "running"
        raise click.ClickException(f"request {request.id} is still {state}; it goes on in the background")
    if ended.status != "done":
        raise click.ClickException(f"request {request.id} failed: {ended.reason}")
    click.echo(ended.target_key)


@route.command("log")
@click.option("--issue", default=None, help="only this source or target issue")
@click.option("--route", "route_id", default=None, help="only this route")
@click.option("--limit", default=50, show_default=True)
def log(issue: str | None, route_id: str | None, limit: int) -> None:
    """The routing audit, newest first: when, who, via what, which route, from where to where, result."""
    from store import routing as store
    from store.db import create_db_engine

    settings = settings_or_exit()
    engine = create_db_engine(settings.DATABASE_URL)
    for entry in store.read_audit(engine, issue=issue, route=route_id, limit=limit):
        target = f"{entry.target_tracker}:{entry.target_key}" if entry.target_key else "-"
        values = ", ".join(f"{k}={v}" for k, v in entry.field_values.items())
        reason = f" reason={entry.reason}" if entry.reason else ""
        click.echo(
            f"{entry.at.isoformat(timespec='seconds')} {entry.result:<9} {entry.route} "
            f"{entry.source_tracker}:{entry.source_key} -> {target} by={entry.actor} via={entry.via}"
            f"{reason}{' values: ' + values if values else ''}"
        )


def _supplied(values: Sequence[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs; a field given twice gets a list (a multi-select)."""
    supplied: dict[str, Any] = {}
    for pair in values:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--set takes FIELD=VALUE, not {pair!r}")
        name = name.strip()
        if name in supplied:
            earlier = supplied[name]
            supplied[name] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            supplied[name] = value
    return supplied


def _print_plan(plan: Any) -> None:
    click.echo(f"route {plan.route} ({plan.mode}) → {plan.target.tracker} {plan.target.container}")
    width = max((len(p.field.name) for p in plan.values), default=10)
    for planned in plan.values:
        click.echo(f"  {planned.field.name:<{width}}  {planned.text}  [{planned.origin}]")
    for spec in plan.missing:
        allowed = f" (one of: {', '.join(c.name for c in spec.allowed)})" if spec.allowed else ""
        click.echo(f'  {spec.name:<{width}}  MISSING — give it with --set "{spec.name}=…"{allowed}')
    for error in plan.errors:
        click.echo(f"  error: {error}")


def _refuse_plan(plan: Any) -> None:
    if plan.missing:
        names = ", ".join(spec.name for spec in plan.missing)
        click.echo(f"missing required fields: {names} (give them with --set FIELD=VALUE)", err=True)
    for error in plan.errors:
        click.echo(f"invalid: {error}", err=True)
    sys.exit(EXIT_MISSING)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in a container: still an actor
        return "cli"
