"""SLA clocks of an issue on a business calendar: pure, the current moment given by the caller.

For each target of the policy (``config.sla``) that fits the issue (first response, resolution) a
:class:`SlaClock` says when the clock started, when the target is due, how much working time has
gone and is left, whether the clock stands still, its :class:`SlaState`, and the two moments a
scheduler waits for: when the warning (``warn_at`` of the target) and the breach will happen.

The rules:

- the clock starts when the issue is created, or when it is first assigned (``start: assigned``);
  until then it is ``pending``;
- it runs only in the calendar's working time, and stands still while the issue is in one of
  ``pause_statuses`` ("waiting for the customer"), from the status change to the next one;
- the first-response clock stops at the first public reply (or at resolution, if nobody replied),
  the resolution clock at resolution;
- a day of a target (``2d``) is the calendar's standard working day of working time, so a clock is
  always measured in working time;
- ``due_at`` is the moment the clock reaches its target counting the pauses so far; while a pause
  lasts and the target is not reached yet, it is unknown (None), as are the warning and the breach.
  Computed from the start, not from "now", it is the same moment in every evaluation until the
  pauses change, so a scheduler can key a firing on it.

:func:`remaining_text` is the time left as a customer reads it (``sla_text`` of canned templates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from config.durations import BusinessDuration
from config.sla import SlaPolicy
from mappers.calendar import (
    BusinessCalendar,
    Pause,
    add_business_time,
    as_utc,
    business_time_between,
)

Metric = Literal["first_response", "resolution"]
METRICS: tuple[Metric, ...] = ("first_response", "resolution")


class SlaState(StrEnum):
    """Where a clock stands at the moment it was evaluated."""

    PENDING = "pending"  # not started: ``start: assigned`` and nobody assigned yet
    RUNNING = "running"
    WARNING = "warning"  # running, past ``warn_at`` of the target
    PAUSED = "paused"  # in a pause status, target not reached
    BREACHED = "breached"  # the target passed: still open, or stopped late
    MET = "met"  # stopped within the target


@dataclass(frozen=True)
class StatusChange:
    """The issue entered ``status`` at ``at`` (aware)."""

    at: datetime
    status: str


@dataclass(frozen=True)
class Timeline:
    """What the SLA needs of an issue; every moment aware.

    ``statuses`` lists the statuses the issue entered, in any order (sorted here); include the one
    it was created in when it can start in a pause status. ``first_response`` is the first reply the
    customer got, ``resolved`` the (latest) resolution of an issue that is resolved now.
    """

    created: datetime
    priority: str | None = None
    project: str | None = None
    assigned: datetime | None = None
    statuses: tuple[StatusChange, ...] = ()
    first_response: datetime | None = None
    resolved: datetime | None = None


@dataclass(frozen=True)
class SlaClock:
    """One target's clock, as evaluated at ``now``; every moment in UTC.

    ``warning_at`` and ``breach_at`` are set only while they are still ahead of ``now`` and the clock
    runs: they are the moments to schedule. ``warned_at`` is the moment the clock reached its warning
    share, once it has by ``now``: a pause after it does not move it (``due_at`` of a breached clock
    neither), so a firing keyed on it happens once.
    """

    metric: Metric
    target: timedelta
    state: SlaState
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    elapsed: timedelta
    paused: bool
    warning_at: datetime | None
    breach_at: datetime | None
    warned_at: datetime | None = None

    @property
    def remaining(self) -> timedelta:
        """Working time left; negative by how much the target is overdue."""
        return self.target - self.elapsed

    @property
    def share(self) -> float:
        """The part of the target used up (over 1 when breached)."""
        return self.elapsed / self.target

    @property
    def stopped(self) -> bool:
        """Whether the clock has stopped (met, or breached and stopped)."""
        return self.stopped_at is not None


@dataclass(frozen=True)
class SlaReport:
    """The clocks of one issue, in the order of :data:`METRICS`, for the targets it has."""

    clocks: tuple[SlaClock, ...]

    def clock(self, metric: Metric) -> SlaClock | None:
        """The clock of ``metric``; None when the issue's target sets none."""
        return next((c for c in self.clocks if c.metric == metric), None)

    @property
    def breached(self) -> bool:
        """Whether any clock is breached."""
        return any(c.state is SlaState.BREACHED for c in self.clocks)

    @property
    def next_event(self) -> datetime | None:
        """The earliest warning or breach still ahead; None when nothing is."""
        moments = [m for c in self.clocks for m in (c.warning_at, c.breach_at) if m is not None]
        return min(moments, default=None)


def evaluate(
    policy: SlaPolicy, calendar: BusinessCalendar, timeline: Timeline, now: datetime
) -> SlaReport | None:
    """The issue's clocks at ``now``; None when no target of the policy covers the issue."""
    target = policy.target_for(timeline.priority, timeline.project)
    if target is None:
        return None
    now = as_utc(now)
    start = _as_of(timeline.created if policy.start == "created" else timeline.assigned, now)
    pauses, open_since = pauses_of([c for c in timeline.statuses if as_utc(c.at) <= now], policy)
    clocks = []
    for metric in METRICS:
        duration: BusinessDuration | None = getattr(target, metric)
        if duration is None:
            continue
        clock = Clock(metric, duration.working_time(calendar.day_length), policy.warn_at)
        stop = _as_of(_stop(timeline, metric), now)
        clocks.append(clock.at(calendar, start, stop, pauses, open_since, now))
    return SlaReport(tuple(clocks))


def _stop(timeline: Timeline, metric: Metric) -> datetime | None:
    ends = [timeline.resolved] if metric == "resolution" else [timeline.first_response, timeline.resolved]
    return min((as_utc(e) for e in ends if e is not None), default=None)


def _as_of(moment: datetime | None, now: datetime) -> datetime | None:
    """``moment`` if it has happened by ``now``: an evaluation sees nothing of its future."""
    return as_utc(moment) if moment is not None and as_utc(moment) <= now else None


def pauses_of(statuses: Sequence[StatusChange], policy: SlaPolicy) -> tuple[list[Pause], datetime | None]:
    """The finished stretches spent in pause statuses, and the start of the one still going on."""
    pauses: list[Pause] = []
    since: datetime | None = None
    for change in sorted(statuses, key=lambda c: as_utc(c.at)):
        pausing = policy.pauses_in(change.status)
        if pausing and since is None:
            since = as_utc(change.at)
        elif not pausing and since is not None:
            pauses.append((since, as_utc(change.at)))
            since = None
    return pauses, since


@dataclass(frozen=True)
class Clock:
    """A target's clock before evaluation: what it measures, how long it may run, when it warns."""

    metric: Metric
    target: timedelta
    warn_at: float

    def at(
        self,
        calendar: BusinessCalendar,
        start: datetime | None,
        stop: datetime | None,
        pauses: list[Pause],
        open_since: datetime | None,
        now: datetime,
    ) -> SlaClock:
        """The clock at ``now`` for a clock started at ``start`` and stopped at ``stop``."""
        if start is None:
            return self._pending(stop)
        start = as_utc(start)
        end = min(stop, now) if stop is not None else now
        paused = stop is None and open_since is not None and open_since <= now
        standing = open_since if paused else None  # the pause the clock stands in now
        closed = [(s, min(e, end)) for s, e in pauses if s < end]
        if open_since is not None and standing is None and open_since < end:
            closed.append((open_since, end))  # a stopped clock's last pause ends with it
        measured = [*closed, (standing, end)] if standing is not None else closed
        elapsed = business_time_between(calendar, start, end, measured)
        due = self._reached(calendar, start, self.target, closed, standing)
        warning = self._reached(calendar, start, self.target * self.warn_at, closed, standing)
        state = self._state(elapsed, stop is not None, paused)
        running = state in (SlaState.RUNNING, SlaState.WARNING)
        return SlaClock(
            metric=self.metric,
            target=self.target,
            state=state,
            started_at=start,
            stopped_at=stop,
            due_at=due,
            elapsed=elapsed,
            paused=paused,
            warning_at=warning if running and warning is not None and warning > now else None,
            breach_at=due if running and due is not None and due > now else None,
            warned_at=warning if warning is not None and warning <= now else None,
        )

    def _pending(self, stop: datetime | None) -> SlaClock:
        zero = timedelta()
        return SlaClock(self.metric, self.target, SlaState.PENDING, None, stop, None, zero, False, None, None)

    @staticmethod
    def _reached(
        calendar: BusinessCalendar,
        start: datetime,
        amount: timedelta,
        pauses: list[Pause],
        paused_since: datetime | None,
    ) -> datetime | None:
        """When ``amount`` of working time outside ``pauses`` has run from ``start``; None when the
        clock stands still (since ``paused_since``) before that."""
        moment = add_business_time(calendar, start, amount, pauses)
        return None if paused_since is not None and moment > paused_since else moment

    def _state(self, elapsed: timedelta, stopped: bool, paused: bool) -> SlaState:
        if stopped:
            return SlaState.MET if elapsed <= self.target else SlaState.BREACHED
        if elapsed >= self.target:
            return SlaState.BREACHED
        if paused:
            return SlaState.PAUSED
        return SlaState.WARNING if elapsed >= self.target * self.warn_at else SlaState.RUNNING


_WORDS = {
    "ru": {
        "left": "осталось {} рабочего времени",
        "paused": "таймер на паузе, осталось {} рабочего времени",
        "overdue": "срок истёк, просрочено на {} рабочего времени",
        "hours": "{} ч",
        "minutes": "{} мин",
        "under_a_minute": "меньше минуты",
    },
    "en": {
        "left": "{} of working time left",
        "paused": "the clock is paused with {} of working time left",
        "overdue": "overdue by {} of working time",
        "hours": "{} h",
        "minutes": "{} min",
        "under_a_minute": "less than a minute",
    },
}


def remaining_text(clock: SlaClock | None, language: str | None) -> str:
    """The time a clock has left, for a customer, in Russian or English (``ru…`` → Russian, else
    English); empty for no clock, a stopped one and a pending one.

    Time left is rounded down to the minute and overdue time up, so the text never promises more
    than there is.
    """
    if clock is None or clock.stopped or clock.state is SlaState.PENDING:
        return ""
    words = _WORDS["ru" if (language or "").lower().startswith("ru") else "en"]
    if clock.remaining <= timedelta():
        return words["overdue"].format(working_time_text(-clock.remaining, words, round_up=True))
    key = "paused" if clock.paused else "left"
    return words[key].format(working_time_text(clock.remaining, words, round_up=False))


def working_time_text(amount: timedelta, words: dict[str, str], *, round_up: bool) -> str:
    """``3 h 20 min`` (``3 ч 20 мин``): hours and minutes, never days (a working day's length varies)."""
    seconds = amount.total_seconds()
    minutes = int(-(-seconds // 60)) if round_up else int(seconds // 60)
    if minutes <= 0:
        return words["under_a_minute"]
    hours, minutes = divmod(minutes, 60)
    parts = [words["hours"].format(hours)] if hours else []
    if minutes:
        parts.append(words["minutes"].format(minutes))
    return " ".join(parts)
