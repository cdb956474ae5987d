"""When a scheduled automation (``cron`` / ``every``) is due: pure, the clock passed in.

A schedule's due times are wall-clock times in its zone (the trigger's ``timezone``, else its
calendar's): a cron expression's matches (``croniter``), or ``every`` N minutes counted from local
midnight when N divides a day (``every: 2h`` is 00:00, 02:00, … local) and from the Unix epoch
otherwise. With a calendar named, a cron due time on a day that is not a working day of it is skipped
(``0 10 * * 1-5`` does not fire on the May holidays, and does fire on a transferred working Saturday
only if the weekday field allows Saturdays), and an ``every`` due time outside its working time is
skipped.

:func:`latest_due` is what the scheduler fires: the latest due time in ``(since, now]``, where
``since`` is the due time fired last (or when the rule was first seen). So after three hours down an
``every: 15m`` rule fires once, for the latest due time, not twelve times. :func:`next_due` is what
``automations ls`` shows. Results are aware datetimes in UTC, cut to the minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from config.automations import Trigger
from mappers.calendar import BusinessCalendar, CalendarError, is_working_time

DAY_MINUTES = 24 * 60
MAX_STEPS = 200_000  # due times looked at in one call: a year of every-minute ticks outside hours
HORIZON = timedelta(days=3 * 366)  # next_due looks this far ahead (a Saturday cron kept by no Saturday)


class ScheduleError(ValueError):
    """A trigger that is no schedule, or a naive moment."""


@dataclass(frozen=True)
class Schedule:
    """A ``cron`` or ``every`` trigger made ready: its zone, and the calendar whose days it keeps."""

    zone: ZoneInfo
    cron: str | None = None
    every_minutes: int | None = None
    calendar: BusinessCalendar | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_minutes is None):
            raise ScheduleError("a schedule is a cron expression or an interval, one of them")


def schedule_of(trigger: Trigger, calendar: BusinessCalendar | None, default_zone: ZoneInfo) -> Schedule:
    """The schedule of a ``cron`` / ``every`` trigger: in the trigger's ``timezone``, else the calendar's
    (``calendar`` is the one the trigger names; None when it names none), else ``default_zone``."""
    if trigger.cron is None and trigger.every is None:
        raise ScheduleError(f"a {trigger.kind} trigger has no schedule")
    zone = ZoneInfo(trigger.timezone) if trigger.timezone else calendar.zone if calendar else default_zone
    return Schedule(zone=zone, cron=trigger.cron, every_minutes=trigger.every, calendar=calendar)


def latest_due(schedule: Schedule, since: datetime, now: datetime) -> datetime | None:
    """The latest due time in ``(since, now]`` the calendar keeps; None when none is."""
    since, now = _utc(since), _utc(now)
    for steps, moment in enumerate(_backwards(schedule, now)):
        if moment <= since or steps >= MAX_STEPS:
            return None
        if _kept(schedule, moment):
            return moment
    return None  # pragma: no cover - the iteration has no end


def next_due(schedule: Schedule, after: datetime) -> datetime | None:
    """The first due time after ``after`` the calendar keeps; None when none is within three years."""
    after = _utc(after)
    for steps, moment in enumerate(_forwards(schedule, after)):
        if steps >= MAX_STEPS or moment > after + HORIZON:
            return None
        if _kept(schedule, moment):
            return moment
    return None  # pragma: no cover


def is_due(schedule: Schedule, moment: datetime) -> bool:
    """Whether ``moment`` (to the minute) is one of the schedule's kept due times."""
    moment = _utc(moment)
    if moment.second or moment.microsecond:
        return False
    return latest_due(schedule, moment - timedelta(minutes=1), moment) == moment


def occurrence_key(due: datetime) -> str:
    """The firing's occurrence for a due time: ``2027-05-04T07:00Z`` (UTC, to the minute)."""
    return _utc(due).strftime("%Y-%m-%dT%H:%MZ")


# -- due times -------------------------------------------------------------------------------------------


def _kept(schedule: Schedule, moment: datetime) -> bool:
    calendar = schedule.calendar
    if calendar is None:
        return True
    if schedule.cron is not None:
        return calendar.is_working_day(moment.astimezone(schedule.zone).date())
    return is_working_time(calendar, moment)


def _backwards(schedule: Schedule, now: datetime) -> Iterator[datetime]:
    if schedule.cron is not None:
        # cron times fall on whole minutes, and get_prev is strict: one second past ``now``'s minute keeps
        # a due time at that minute and never returns one later than ``now`` (06:59:59.5 → 06:59, not 07:00)
        start = now.replace(second=0, microsecond=0).astimezone(schedule.zone) + timedelta(seconds=1)
        it = croniter(schedule.cron, start)
        while True:
            yield _utc(it.get_prev(datetime))
    else:
        yield from _every(schedule, now, -1)


def _forwards(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    if schedule.cron is not None:
        it = croniter(schedule.cron, after.astimezone(schedule.zone))
        while True:
            yield _utc(it.get_next(datetime))
    else:
        yield from _every(schedule, after + timedelta(minutes=1), +1)


def _every(schedule: Schedule, start: datetime, direction: int) -> Iterator[datetime]:
    """Due times of an interval from ``start`` (included) going ``direction`` (+1 forwards, -1 back)."""
    step = schedule.every_minutes
    assert step is not None
    start = start.replace(second=0, microsecond=0)
    if DAY_MINUTES % step:
        yield from _epoch_ticks(start, step, direction)
        return
    day = start.astimezone(schedule.zone).date()
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=schedule.zone)
        ticks = [_utc(midnight + timedelta(minutes=m)) for m in range(0, DAY_MINUTES, step)]
        ticks = sorted(set(ticks), reverse=direction < 0)
        for tick in ticks:
            if (tick <= start) if direction < 0 else (tick >= start):
                yield tick
        day += timedelta(days=direction)


def _epoch_ticks(start: datetime, step: int, direction: int) -> Iterator[datetime]:
    minutes = int(start.timestamp()) // 60
    tick = minutes - minutes % step if direction < 0 else minutes + (-minutes) % step
    while True:
        yield datetime.fromtimestamp(tick * 60, UTC)
        tick += direction * step


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise CalendarError(f"a moment without a time zone: {moment.isoformat()}")
    return moment.astimezone(UTC)
