"""The weekly report on schedule: once per due time (Monday 09:00 in the team's zone), however many
schedulers run and however often they restart.

The periodic job ``weekly-report`` (jobs/registry.py) looks every minute whether a due time of
``reports.weekly.cron`` passed that the report has not fired for (``automation_schedules``, as a
scheduled automation rule). If one has, it stores ONE firing keyed (``report:weekly``, ``*``, the due
time) in ``automation_firings`` (a unique key: a second scheduler, or the same one after a restart,
stores nothing new) and enqueues its job ``auto-<firing id>``. The firing runs as an automation's does
(jobs/automations/run.py: claimed under a lease, retried on an outage, found again by the automations'
sweep if its worker dies) with one action, :class:`~jobs.automations.model.ReportAction`, whose posts go
through the outbound log once each. The week is the one before the due time, so a retry or a late run
reports the same week.

The first time the hub sees the schedule (a new installation) it records the latest due time without
posting, as a scheduled automation does: the first report is the next Monday's.
"""

from __future__ import annotations

import datetime as dt
import logging

from jobs.automations.model import AutomationRule, ReportAction
from jobs.automations.queue import enqueue_firings
from jobs.clock import utcnow
from jobs.context import Context
from jobs.registry import Cron, Every, Registry
from jobs.reports.weekly import report_trackers
from mappers.schedules import occurrence_key
from store import automations as firings
from store.automations import NewFiring

log = logging.getLogger(__name__)

REPORT_RULE = "report:weekly"  # the firings' rule name: no automation of the rule file can be named so
LOOK_EVERY = 60.0  # seconds between looks at the schedule (a report posted up to a minute after 09:00)
JOB_GRACE = dt.timedelta(minutes=2)  # the firing's job has this long to claim it before the sweep


def register_report_jobs(registry: Registry, ctx: Context) -> None:
    registry.register("weekly-report", Every(LOOK_EVERY), lambda: fire_due_report(ctx, utcnow()))


def report_rule(ctx: Context) -> AutomationRule:
    """The engine's rule that runs a report firing (not scanned: ``fire_due_report`` stores its firings)."""
    tracker = report_trackers(ctx, ctx.config.reports.weekly)[0]
    return AutomationRule(name=REPORT_RULE, tracker=tracker, actions=(ReportAction(),))


def report_due(ctx: Context, now: dt.datetime) -> dt.datetime | None:
    """The latest due time of the weekly report on or before ``now``; None when it is disabled."""
    spec = ctx.config.reports.weekly
    if not spec.enabled:
        return None
    zone = ctx.config.calendar(spec.calendar).zone
    latest = Cron(spec.cron, zone.key).latest(now.timestamp())
    return dt.datetime.fromtimestamp(latest, dt.UTC)


def fire_due_report(ctx: Context, now: dt.datetime) -> str | None:
    """Store and enqueue the report's firing for the latest due time not fired yet; its id, or None."""
    due = report_due(ctx, now)
    if due is None:
        return None
    last = firings.last_due(ctx.engine, REPORT_RULE)
    if last is not None and last >= due:
        return None
    if last is None:
        firings.set_last_due(ctx.engine, REPORT_RULE, due, now)
        log.info("report.schedule-started from=%s", due.isoformat())
        return None
    tracker = report_trackers(ctx, ctx.config.reports.weekly)[0]
    found = NewFiring(REPORT_RULE, tracker, firings.RULE_WIDE, occurrence_key(due), {"due": due.isoformat()})
    new = firings.insert(ctx.engine, [found], now, JOB_GRACE)
    firings.set_last_due(ctx.engine, REPORT_RULE, due, now)
    enqueue_firings(ctx.redis, new)
    log.info("report.fired due=%s new=%d", due.isoformat(), len(new))
    return found.id
