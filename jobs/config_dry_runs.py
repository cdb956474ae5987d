"""The editor's previews that read the trackers (issue 16): a route's autofill on a chosen issue, and
the issues an automation would fire for now, each under the configuration in force and under the edited
one. They read and write nothing else: the routing preview is the routing page's (``jobs.routing.api``),
the dry run the CLI's (``trackerhub automations dry-run``), each given a context whose configuration is
the one previewed.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.rules import HubConfig
from config.source import StaticSource
from jobs.automations.report import dry_run_lines
from jobs.context import Context
from jobs.routing.api import preview
from jobs.routing.errors import RoutingError
from mappers.autofill import RoutePlan


@dataclass(frozen=True)
class Side:
    """What one configuration gives: lines to show, or a note saying why there are none."""

    lines: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DryRun:
    """The same preview under the configuration in force and under the edited one."""

    old: Side
    new: Side

    @property
    def changed(self) -> bool:
        return self.old != self.new


def under(ctx: Context, config: HubConfig) -> Context:
    """A context like ``ctx`` whose configuration is ``config`` (its own tracker connectors)."""
    return Context(settings=ctx.settings, engine=ctx.engine, redis=ctx.redis, source=StaticSource(config))


def route_previews(ctx: Context, old: HubConfig, new: HubConfig, route: str, issue_key: str) -> DryRun:
    """The autofill of ``route`` on ``issue_key`` under both configurations."""
    before, after = (_route_side(under(ctx, config), route, issue_key) for config in (old, new))
    return DryRun(before, after)


def automation_dry_runs(ctx: Context, old: HubConfig, new: HubConfig, name: str) -> DryRun:
    """The issues automation ``name`` would fire for now under both configurations."""
    before, after = (_automation_side(under(ctx, config), name) for config in (old, new))
    return DryRun(before, after)


def plan_lines(plan: RoutePlan) -> tuple[str, ...]:
    """A route plan as the preview shows it: the target, each field with its value and origin, what the
    coordinator would be asked, and the errors."""
    target = plan.target
    lines = [f"→ {target.tracker}/{target.container} ({plan.mode})"]
    lines += [f"{planned.field.name}: {planned.text} ({planned.origin})" for planned in plan.values]
    lines += [f"{spec.name}: asked of the coordinator" for spec in plan.missing]
    lines += [f"error: {error}" for error in plan.errors]
    return tuple(lines)


def _route_side(ctx: Context, route: str, issue_key: str) -> Side:
    try:
        return Side(plan_lines(preview(ctx, route, issue_key, {})))
    except RoutingError as exc:
        return Side(note=str(exc))


def _automation_side(ctx: Context, name: str) -> Side:
    lines, note = dry_run_lines(ctx, name)
    return Side(tuple(line.replace("\t", "  ") for line in lines), note or "")
