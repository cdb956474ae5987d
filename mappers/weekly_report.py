"""The weekly report's figures from what the hub and the tracker know of each issue: pure, no I/O.

``jobs/reports/weekly.py`` gathers one :class:`IssueRow` per issue (the tracker's search, the hub's
journal, links and outbound log) and the CSAT summary; :func:`week_figures` counts one week of them,
:func:`report_text` prints this week beside the last with the change of each figure.

Every figure counts what happened in the week ``[since, until)``:

- **new issues** by channel and by team: issues created in the week;
- **customer messages** by channel: messages journaled in the week, ignored ones (auto-replies,
  bounces, spam) left out;
- **first response**: the time from an issue's creation to the first public reply its customer got,
  for the first replies given in the week;
- **resolution**: the time from creation to resolution, for the issues resolved in the week;
- durations are working time on the report's calendar, or wall-clock time without one; the median
  and the 90th percentile are of those durations (nearest rank: the smallest duration at least 90% of
  them do not exceed);
- **SLA met**: of the SLA clocks that stopped in the week (first response, resolution), the share that
  stopped within their target;
- **CSAT**: the average rating and the number of ratings given in the week;
- **per assignee**: issues created in the week and now assigned to them, and issues resolved in the
  week that are assigned to them.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from mappers.calendar import BusinessCalendar, as_utc, business_time_between

NO_ASSIGNEE = "(nobody)"


@dataclass(frozen=True)
class ClockOutcome:
    """An SLA clock that stopped: its metric, whether it was met, and when it stopped."""

    metric: str  # first_response | resolution
    met: bool
    stopped_at: datetime


@dataclass(frozen=True)
class IssueRow:
    """One issue as the report reads it; every moment aware.

    ``channel`` is where its first message came from (telegram, email, form), ``routed`` for an issue
    a route created, ``tracker`` for one opened in the tracker itself. ``team`` is its project or board.
    """

    tracker: str
    key: str
    team: str
    channel: str
    created: datetime
    assignee: str | None = None
    resolved: datetime | None = None
    first_response: datetime | None = None
    clocks: tuple[ClockOutcome, ...] = ()


@dataclass(frozen=True)
class Csat:
    """The ratings given in a week: how many, their average (None without any), and per assignee
    (how many, their average)."""

    count: int = 0
    average: float | None = None
    by_assignee: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Durations:
    """Median and 90th percentile of a week's durations, and how many there were."""

    count: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None


@dataclass(frozen=True)
class SlaMet:
    """SLA clocks of one metric that stopped in the week, and how many of them were met."""

    met: int = 0
    stopped: int = 0

    @property
    def share(self) -> float | None:
        return self.met / self.stopped if self.stopped else None


@dataclass(frozen=True)
class WeekFigures:
    """One week's figures."""

    since: datetime
    until: datetime
    new_by_channel: dict[str, int] = field(default_factory=dict)
    messages_by_channel: dict[str, int] = field(default_factory=dict)
    new_by_team: dict[str, int] = field(default_factory=dict)
    first_response: Durations = field(default_factory=Durations)
    resolution: Durations = field(default_factory=Durations)
    sla: dict[str, SlaMet] = field(default_factory=dict)
    csat: Csat = field(default_factory=Csat)
    assigned: dict[str, int] = field(default_factory=dict)  # created in the week, by current assignee
    resolved_by: dict[str, int] = field(default_factory=dict)  # resolved in the week, by assignee

    @property
    def new_issues(self) -> int:
        return sum(self.new_by_channel.values())


@dataclass(frozen=True)
class WeeklyReport:
    """This week's figures and last week's, for the change."""

    this: WeekFigures
    last: WeekFigures
    business_hours: bool = False
    zone: tzinfo = UTC  # the team's: the days the report names

    @property
    def days(self) -> tuple[date, date]:
        """The week's first and last day, in the team's zone."""
        return self.this.since.astimezone(self.zone).date(), (
            self.this.until - timedelta(seconds=1)
        ).astimezone(self.zone).date()


def week_figures(
    rows: Iterable[IssueRow],
    csat: Csat,
    messages: dict[str, int],
    since: datetime,
    until: datetime,
    calendar: BusinessCalendar | None,
) -> WeekFigures:
    """Count the week ``[since, until)`` of ``rows`` (``messages``: the customer messages it brought per
    channel, as the journal counts them); durations in ``calendar``'s working time (wall-clock
    time when None)."""
    since, until = as_utc(since), as_utc(until)

    def within(moment: datetime | None) -> bool:
        return moment is not None and since <= as_utc(moment) < until

    def took(start: datetime, end: datetime) -> timedelta:
        if calendar is None:
            return max(as_utc(end) - as_utc(start), timedelta())
        return business_time_between(calendar, as_utc(start), as_utc(end))

    items = list(rows)
    created = [row for row in items if within(row.created)]
    answered = [row for row in items if row.first_response is not None and within(row.first_response)]
    resolved = [row for row in items if row.resolved is not None and within(row.resolved)]
    sla: dict[str, SlaMet] = {}
    for clock in (c for row in items for c in row.clocks if within(c.stopped_at)):
        seen = sla.get(clock.metric, SlaMet())
        sla[clock.metric] = SlaMet(seen.met + clock.met, seen.stopped + 1)
    return WeekFigures(
        since=since,
        until=until,
        new_by_channel=_counted(row.channel for row in created),
        messages_by_channel=dict(sorted(messages.items(), key=lambda item: (-item[1], item[0]))),
        new_by_team=_counted(row.team for row in created),
        first_response=durations([took(r.created, r.first_response) for r in answered if r.first_response]),
        resolution=durations([took(r.created, r.resolved) for r in resolved if r.resolved]),
        sla=dict(sorted(sla.items())),
        csat=csat,
        assigned=_counted(row.assignee or NO_ASSIGNEE for row in created),
        resolved_by=_counted(row.assignee or NO_ASSIGNEE for row in resolved),
    )


def _counted(values: Iterable[str]) -> dict[str, int]:
    """Counts by value, the largest first (ties by name)."""
    counts = Counter(values)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def durations(values: Sequence[timedelta]) -> Durations:
    """The median and the nearest-rank 90th percentile of ``values``."""
    if not values:
        return Durations()
    ordered = sorted(values)
    p90 = ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]
    median = timedelta(seconds=statistics.median(value.total_seconds() for value in ordered))
    return Durations(len(ordered), median, p90)


# -- text ------------------------------------------------------------------------------------------------


def report_text(report: WeeklyReport) -> str:
    """The report as the team reads it: each figure this week, last week in brackets with the change."""
    this, last = report.this, report.last
    hours = "working hours" if report.business_hours else "hours"
    first, last_day = report.days
    lines = [
        f"Weekly report {first:%Y-%m-%d} - {last_day:%Y-%m-%d} (previous week in brackets)",
        "",
        f"New issues: {_count_change(this.new_issues, last.new_issues)}",
    ]
    lines += _breakdown("By channel", this.new_by_channel, last.new_by_channel)
    lines += _breakdown("By team", this.new_by_team, last.new_by_team)
    messages = _count_change(sum(this.messages_by_channel.values()), sum(last.messages_by_channel.values()))
    lines.append(f"Customer messages: {messages}")
    lines += _breakdown("By channel", this.messages_by_channel, last.messages_by_channel)
    lines += [
        "",
        f"First response ({hours}): {_durations_change(this.first_response, last.first_response)}",
        f"Resolution ({hours}): {_durations_change(this.resolution, last.resolution)}",
    ]
    for metric in sorted({*this.sla, *last.sla}):
        now, before = this.sla.get(metric, SlaMet()), last.sla.get(metric, SlaMet())
        lines.append(
            f"SLA {metric.replace('_', ' ')} met: {_share(now)} ({_share(before)}, {_points(now, before)})"
        )
    if not this.sla and not last.sla:
        lines.append("SLA met: no SLA clock stopped")
    lines.append(f"CSAT: {_csat(this.csat)} ({_csat(last.csat)}, {_csat_change(this.csat, last.csat)})")
    lines += ["", "Per assignee: created this week / resolved this week / CSAT"]
    people = sorted(
        {*this.assigned, *this.resolved_by, *this.csat.by_assignee, *last.assigned, *last.resolved_by}
    )
    for person in people:
        rated = this.csat.by_assignee.get(person)
        lines.append(
            f"  {person}: {_count_change(this.assigned.get(person, 0), last.assigned.get(person, 0))}"
            f" / {_count_change(this.resolved_by.get(person, 0), last.resolved_by.get(person, 0))}"
            f" / {'-' if rated is None else f'{rated[1]:.2f} of {rated[0]}'}"
        )
    if not people:
        lines.append("  nobody")
    return "\n".join(lines)


def _breakdown(title: str, now: dict[str, int], before: dict[str, int]) -> list[str]:
    names = list(dict.fromkeys([*now, *before]))
    return [
        f"  {title.lower()} {name}: {_count_change(now.get(name, 0), before.get(name, 0))}" for name in names
    ]


def _count_change(now: int, before: int) -> str:
    return f"{now} ({before}, {now - before:+d})"


def hours_text(amount: timedelta | None) -> str:
    """A duration in hours with one decimal, ``-`` for none."""
    return "-" if amount is None else f"{amount.total_seconds() / 3600:.1f} h"


def _delta_hours(now: timedelta | None, before: timedelta | None) -> str:
    if now is None or before is None:
        return "n/a"
    return f"{(now - before).total_seconds() / 3600:+.1f} h"


def _durations_change(now: Durations, before: Durations) -> str:
    return (
        f"median {hours_text(now.median)} ({hours_text(before.median)}, "
        f"{_delta_hours(now.median, before.median)}), "
        f"p90 {hours_text(now.p90)} ({hours_text(before.p90)}, {_delta_hours(now.p90, before.p90)}), "
        f"n={_count_change(now.count, before.count)}"
    )


def _share(sla: SlaMet) -> str:
    share = sla.share
    return "-" if share is None else f"{share * 100:.0f}% of {sla.stopped}"


def _points(now: SlaMet, before: SlaMet) -> str:
    if now.share is None or before.share is None:
        return "n/a"
    return f"{(now.share - before.share) * 100:+.0f} pp"


def _csat(csat: Csat) -> str:
    return "-" if csat.average is None else f"{csat.average:.2f} of {csat.count}"


def _csat_change(now: Csat, before: Csat) -> str:
    if now.average is None or before.average is None:
        return "n/a"
    return f"{now.average - before.average:+.2f}"
