"""``trackerhub sla report``: SLA targets met and breached per priority and team (the Jira project or
Kaiten board) for the issues created since a date.

The issues come from ONE paged search of the tracker; their life from the hub's own journal, as the
``sla`` trigger reads it (``jobs.automations.sla.timeline_of``): the status changes its webhooks told
(pauses, resolution) and the first reply a customer got from the team (the outbound log). An issue
resolved without a journaled status change counts as resolved at its last update.
The clocks are ``mappers.sla.evaluate``'s, on the policy's business calendar. ``start: assigned`` needs
the first assignment, which the journal does not hold: such clocks show as pending.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from config.sla import SlaPolicy
from connector.types import IssueState, SearchQuery
from jobs.automations.sla import history_of, timeline_of
from jobs.context import Context
from mappers.calendar import BusinessCalendar, business_calendar
from mappers.sla import evaluate

PAGE = 100
Counts = Counter[tuple[str, str, str, str]]  # (priority, team, metric, outcome) → issues


def sla_report(ctx: Context, tracker_name: str, since: dt.datetime, now: dt.datetime) -> list[str]:
    """One line per priority, team and metric: met, breached, running (pending, paused)."""
    policy = ctx.config.sla
    if policy is None:
        return ["no sla: section in the rule file"]
    calendar = business_calendar(ctx.config.calendar(policy.calendar), policy.calendar)
    counts: Counts = Counter()
    page: list[IssueState] = []
    tracker = ctx.tracker(tracker_name)
    for state in tracker.search(SearchQuery(created_after=since), page_size=PAGE):
        page.append(state)
        if len(page) == PAGE:
            _count(ctx, tracker_name, page, policy, calendar, now, counts)
            page = []
    _count(ctx, tracker_name, page, policy, calendar, now, counts)
    lines = ["priority\tteam\tmetric\tmet\tbreached\topen"]
    groups = sorted({key[:3] for key in counts})
    for priority, team, metric in groups:
        got = {state: counts[(priority, team, metric, state)] for state in ("met", "breached", "open")}
        lines.append(f"{priority}\t{team}\t{metric}\t{got['met']}\t{got['breached']}\t{got['open']}")
    return lines


def _count(
    ctx: Context,
    tracker_name: str,
    page: list[IssueState],
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    now: dt.datetime,
    counts: Counts,
) -> None:
    if not page:
        return
    history = history_of(ctx, tracker_name, page)
    kind = ctx.config.tracker_kind(tracker_name) or "jira"
    for state in page:
        if state.created is None:
            continue
        timeline = timeline_of(state, history.get(state.ref.key), policy, kind)
        report = evaluate(policy, calendar, timeline, now)
        for clock in report.clocks if report is not None else ():
            outcome = clock.state.value if clock.state.value in ("met", "breached") else "open"
            counts[(state.priority or "-", state.container or "-", clock.metric, outcome)] += 1
