"""What the ``automations`` commands print: the rules, a dry run, a run, an issue's history."""

from __future__ import annotations

import datetime as dt

from jobs.automations.model import AutomationRule, describe, next_due
from jobs.automations.rules import compiled
from jobs.automations.run import run_firing_with
from jobs.automations.scan import dry_run, scan_rule
from jobs.clock import utcnow
from jobs.context import Context
from store import automations as firings


def rule_lines(ctx: Context, now: dt.datetime | None = None) -> list[str]:
    """``name  trigger  next=…  last=…  24h=N`` per rule, and ``not run: why`` for those left out."""
    now = now or utcnow()
    found = compiled(ctx)
    counts = firings.counts_since(ctx.engine, now - dt.timedelta(hours=24))
    lines = []
    for automation in ctx.config.automations:
        name = automation.name
        rule = found.rules.get(name)
        trigger = automation.trigger.kind + (
            f" {automation.trigger.event}" if automation.trigger.event else ""
        )
        if rule is None:
            lines.append(f"{name}\t{trigger}\tnot run: {found.left_out.get(name, '?')}")
            continue
        last = firings.last_due(ctx.engine, name)
        coming = next_due(rule.schedule, now) if rule.scanned and rule.schedule is not None else None
        upcoming = "on events" if not rule.scanned else (_time(coming) if coming else "-")
        fired = _time(last) if last else "-"
        lines.append(f"{name}\t{trigger}\tnext={upcoming}\tlast={fired}\t24h={counts.get(name, 0)}")
    return lines


def _rule(ctx: Context, name: str) -> tuple[AutomationRule | None, str | None]:
    found = compiled(ctx)
    if name in found.rules:
        return found.rules[name], None
    if name in found.left_out:
        return None, f"{name}: not run: {found.left_out[name]}"
    known = ", ".join(a.name for a in ctx.config.automations) or "(none)"
    return None, f"no automation {name!r}; the automations are {known}"


def dry_run_lines(ctx: Context, name: str, now: dt.datetime | None = None) -> tuple[list[str], str | None]:
    """One line per issue the rule would fire for now (``KEY<TAB>action; action``) and a note."""
    rule, note = _rule(ctx, name)
    if rule is None:
        return [], note
    if not rule.scanned:
        return [], f"{name} fires on tracker events, not on a scan"
    actions = "; ".join(describe(action) for action in rule.actions)
    would = dry_run(ctx, rule, now or utcnow())
    lines = []
    for item in would:
        if item.issue_key == firings.RULE_WIDE:
            lines += [f"{issue['key']}\t{actions}" for issue in item.payload.get("issues", [])]
        else:
            lines.append(f"{item.issue_key}\t{actions}")
    lines = list(dict.fromkeys(lines))  # one line per issue, also when two of its SLA clocks would fire
    return lines, None if lines else f"{name}: nothing would fire now"


def run_lines(ctx: Context, name: str, now: dt.datetime | None = None) -> tuple[list[str], bool]:
    """Scan the rule now (its latest due time, even on first sight) and run its pending firings here."""
    rule, note = _rule(ctx, name)
    if rule is None:
        return [note or name], True
    now = now or utcnow()
    if rule.scanned:
        scan_rule(ctx, rule, now, force=True)
    lines = []
    failed = False
    for firing in firings.of_rule(ctx.engine, name):
        if firing.status not in (firings.PENDING, firings.RUNNING):
            continue
        status = run_firing_with(ctx, firing.id, now, {name: rule})
        failed = failed or status == firings.FAILED
        lines.append(f"{firing.issue_key}\t{status}")
    return lines or [f"{name}: nothing due"], failed


def history_lines(ctx: Context, issue_key: str) -> list[str]:
    """The issue's firings: ``created  rule  occurrence  status  actions=N  error``."""
    lines = []
    for firing in firings.history(ctx.engine, issue_key):
        done = sum(1 for key in firing.actions_done if ":" not in key)
        error = f"\t{firing.error}" if firing.error else ""
        lines.append(
            f"{_time(firing.created_at)}\t{firing.rule}\t{firing.occurrence}\t{firing.status}\tactions={done}{error}"
        )
    return lines


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
