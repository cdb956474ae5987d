"""The weekly report's figures: the rows ``mappers.weekly_report`` counts, gathered from the trackers and
the hub's tables for this week and the one before.

Where each part of a row comes from:

- the issues: per tracker of ``reports.weekly.trackers`` (the environment's when none), two paged
  searches, the issues created in the two weeks and the done issues updated since they began, and the
  issues whose customer got a reply in them (the outbound log) that neither search found, by key. The
  tracker says the issue's creation, team (project / board), assignee now and whether it is done;
- the channel: the hub's ``links`` (the message that opened the issue), else ``routed`` when a routing
  request created it, else ``tracker`` (opened in the tracker itself);
- the first response: the first reply to the customer the outbound log holds (as the SLA reads it);
- the resolution: the last move into a done status the tracker's webhooks told, else the issue's last
  update (``jobs.automations.sla.resolved_at``, as the SLA reads it);
- the SLA clocks: ``mappers.sla.evaluate`` on the same timeline the ``sla`` rule and ``sla report`` use
  (the SLA trigger itself records only warnings and breaches of open issues, as firings);
- CSAT: ``store.ratings.summary``; customer messages: the journal (``store.reports``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from config.reports import WeeklyReport as WeeklySpec
from connector.types import DONE, IssueState, SearchQuery
from jobs.automations.sla import history_of, resolved_at, timeline_of
from jobs.context import Context
from mappers.calendar import BusinessCalendar, business_calendar
from mappers.sla import SlaState, evaluate
from mappers.weekly_report import (
    NO_ASSIGNEE,
    ClockOutcome,
    Csat,
    IssueRow,
    WeekFigures,
    WeeklyReport,
    week_figures,
)
from store import ratings, reports
from store.automations import JournaledHistory

PAGE = 100
WEEK = dt.timedelta(days=7)


def report_calendar(ctx: Context) -> BusinessCalendar:
    """The report's calendar: its zone is the team's, its hours those durations are counted in."""
    name = ctx.config.reports.weekly.calendar
    return business_calendar(ctx.config.calendar(name), name)


def week_bounds(
    zone: dt.tzinfo, now: dt.datetime, since: dt.date | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The week a report covers, from local midnight to local midnight seven days later: the one starting
    on ``since``, else the last whole week (Monday to Sunday) before ``now``, in ``zone``."""
    if since is None:
        today = now.astimezone(zone).date()
        since = today - dt.timedelta(days=today.weekday() + 7)
    start = dt.datetime.combine(since, dt.time(0), zone)
    end = dt.datetime.combine(since + WEEK, dt.time(0), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def weekly_report(ctx: Context, now: dt.datetime, since: dt.date | None = None) -> WeeklyReport:
    """The report of the week starting ``since`` (else the last whole week before ``now``) beside the
    week before it."""
    spec = ctx.config.reports.weekly
    calendar = report_calendar(ctx)
    start, until = week_bounds(calendar.zone, now, since)
    first_day = start.astimezone(calendar.zone).date()
    before, _ = week_bounds(calendar.zone, now, first_day - WEEK)
    rows = [row for name in report_trackers(ctx, spec) for row in issue_rows(ctx, name, before, until, spec)]
    hours = calendar if spec.business_hours else None

    def figures(since_: dt.datetime, until_: dt.datetime) -> WeekFigures:
        messages = reports.customer_messages(ctx.engine, since_, until_)
        return week_figures(rows, csat_between(ctx, since_, until_), messages, since_, until_, hours)

    return WeeklyReport(figures(start, until), figures(before, start), spec.business_hours, calendar.zone)


def report_trackers(ctx: Context, spec: WeeklySpec) -> tuple[str, ...]:
    """The trackers the report counts: the configured ones, else the environment's default tracker."""
    if spec.trackers:
        return spec.trackers
    settings = ctx.settings
    return ("kaiten",) if settings.KAITEN_URL and not settings.JIRA_URL else ("jira",)


def csat_between(ctx: Context, since: dt.datetime, until: dt.datetime) -> Csat:
    summary = ratings.summary(ctx.engine, since, until)
    per = {
        (item.assignee or NO_ASSIGNEE): (item.count, item.average)
        for item in summary.by_assignee
        if item.average is not None
    }
    return Csat(summary.count, summary.average, per)


def issue_rows(
    ctx: Context, name: str, since: dt.datetime, until: dt.datetime, spec: WeeklySpec
) -> Iterator[IssueRow]:
    """One row per issue of tracker ``name`` that something happened to in ``[since, until)``."""
    tracker = ctx.tracker(name)
    found: dict[str, IssueState] = {}
    searches = (
        SearchQuery(created_after=since, created_before=until),
        SearchQuery(updated_after=since, status_category=(DONE,)),
    )
    for query in searches:
        found.update((state.ref.key, state) for state in tracker.search(query, page_size=PAGE))
    missing = [key for key in reports.replied_issues(ctx.engine, name, since, until) if key not in found]
    for start in range(0, len(missing), PAGE):
        keys = tuple(missing[start : start + PAGE])
        found.update((s.ref.key, s) for s in tracker.search(SearchQuery(keys=keys), page_size=PAGE))
    states = [state for state in found.values() if state.created is not None]
    team_prefix = f"{name}:" if len(spec.trackers) > 1 else ""
    for start in range(0, len(states), PAGE):
        yield from _page_rows(ctx, name, states[start : start + PAGE], until, team_prefix)


def _page_rows(
    ctx: Context, name: str, page: Sequence[IssueState], until: dt.datetime, team_prefix: str
) -> Iterator[IssueRow]:
    keys = [state.ref.key for state in page]
    lives = history_of(ctx, name, page)
    channels = reports.opening_channels(ctx.engine, name, keys)
    routed = reports.routed_targets(ctx.engine, name, keys)
    for state in page:
        assert state.created is not None
        life = lives.get(state.ref.key)
        channel = channels.get(state.ref.key) or ("routed" if state.ref.key in routed else "tracker")
        yield IssueRow(
            tracker=name,
            key=state.ref.key,
            team=team_prefix + (state.container or "-"),
            channel=channel,
            created=state.created,
            assignee=state.assignee,
            resolved=resolved_at(state, life),
            first_response=life.first_reply if life is not None else None,
            clocks=stopped_clocks(ctx, name, state, life, until),
        )


def stopped_clocks(
    ctx: Context, name: str, state: IssueState, life: JournaledHistory | None, until: dt.datetime
) -> tuple[ClockOutcome, ...]:
    """The issue's SLA clocks that stopped by ``until``: met or breached, and when."""
    policy = ctx.config.sla
    if policy is None:
        return ()
    calendar = business_calendar(ctx.config.calendar(policy.calendar), policy.calendar)
    kind = ctx.config.tracker_kind(name) or "jira"
    report = evaluate(policy, calendar, timeline_of(state, life, policy, kind), until)
    if report is None:
        return ()
    return tuple(
        ClockOutcome(clock.metric, clock.state is SlaState.MET, clock.stopped_at)
        for clock in report.clocks
        if clock.stopped_at is not None
    )
