"""Business-time arithmetic on a calendar (``config.calendars``): pure, no clock, no I/O.

Every function takes aware datetimes from its caller (a scheduler passes its injected clock's "now")
and raises :class:`CalendarError` for a naive one. Results are aware datetimes in UTC: two moments
in one ``ZoneInfo`` zone are compared and subtracted by their wall clocks (PEP 495), which is wrong
across a DST change, so nothing here hands out zone-local values; show one with
``moment.astimezone(calendar.zone)``.

A calendar's working time is a series of half-open intervals ``[start, end)``: each working range
of each local day (``BusinessCalendar.spans_on``) placed on the UTC time line through the calendar's
zone. A day on which a zone changes its offset is as long as it really is: 00:00-24:00 in
Europe/Berlin on the last Sunday of March is 23 hours. A wall time that a change skips (02:30 that
Sunday) is read with the offset before the change, as ``zoneinfo`` does for ``fold=0``.

What the functions mean:

- :func:`add_business_time` ``(t, 2h)``: the moment the second working hour after ``t`` ends. Friday
  17:00 + 2 h in a 09:00-18:00 calendar is Monday 10:00; Friday 17:00 + 1 h is Friday 18:00 (the
  working hour ends then), not Monday 09:00.
- :func:`add_business_days` ``(t, N)``: the same local time of day on the N-th working day after the
  day of ``t``, where a ``t`` outside working time is first moved to the next working moment. So an
  issue asked on Tuesday 15:00 is "2 business days" old on Thursday 15:00, and one asked on Friday at
  20:00 or on Saturday on Wednesday 09:00 (its clock starts on Monday 09:00). When that day's hours
  do not hold the time of day (a shorter Friday), the result is the nearest working moment of that
  day: the start of the next range, or the end of the last one.
- :func:`business_time_between`: the working time in ``[start, end)``, less any pauses (for SLA
  "waiting for the customer"); zero when ``end`` is not after ``start``.
- :func:`next_working_moment`: ``t`` itself when it is working time, else the next range's start.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import ModuleType
from typing import NamedTuple
from zoneinfo import ZoneInfo

from config.calendars import DEFAULT_NAME, CalendarSpec, Span, Week, working_length
from config.durations import BusinessDuration

ONE_DAY = timedelta(days=1)
MAX_IDLE_DAYS = 3 * 366  # a calendar with no working time for this long is broken, not slow


class CalendarError(ValueError):
    """A moment without a time zone, a negative amount, or a calendar with no working time ahead."""


class Interval(NamedTuple):
    """A half-open stretch of time ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        """How long it is."""
        return self.end - self.start


Pause = tuple[datetime, datetime]
"""A stretch of time a clock does not run in (start, end), both aware."""


@dataclass(frozen=True)
class BusinessCalendar:
    """A calendar ready for arithmetic: its zone, its week, and the days that differ from the week.

    Build one with :func:`business_calendar` (cached per calendar, so the per-day working intervals it
    computes are reused across calls).
    """

    name: str
    zone: ZoneInfo
    week: Week
    transferred: tuple[Span, ...]
    country: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    _days: dict[date, tuple[Interval, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: CalendarSpec, name: str = DEFAULT_NAME) -> BusinessCalendar:
        """The calendar a validated ``calendars:`` entry describes."""
        return cls(
            name=name,
            zone=spec.zone,
            week=spec.hours,
            transferred=spec.transferred_spans,
            country=spec.holidays,
            extra_holidays=frozenset(spec.extra_holidays),
            working_days=frozenset(spec.working_days),
        )

    @property
    def day_length(self) -> timedelta:
        """A standard working day (a transferred working day's hours): what ``1d`` of an SLA counts."""
        return working_length(self.transferred)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The working ranges of a local date (minutes from midnight); empty on a day off.

        ``working_days`` win over everything, then ``extra_holidays``, then the country's holidays and
        transferred working days, then the week. A transferred working day that the week leaves off
        is worked for the transferred hours.
        """
        weekday = self.week[day.weekday()]
        if day in self.working_days:
            return weekday or self.transferred
        if day in self.extra_holidays:
            return ()
        if self.country is not None:
            days_off, workdays = country_days(self.country, day.year)
            if day in days_off:
                return ()
            if day in workdays:
                return weekday or self.transferred
        return weekday

    def is_working_day(self, day: date) -> bool:
        """Whether a local date has any working time."""
        return bool(self.spans_on(day))

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The working time of a local date on the UTC time line, in order, never overlapping."""
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = _place_day(self, day)
        return found


@functools.lru_cache(maxsize=256)
def country_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """A country's public holidays and transferred working weekend days around ``year`` (the year
    before and after too: a transfer can cross New Year), from the ``holidays`` package (imported here,
    on first use: 8.8 MiB that a process with no business calendar to compute need not carry,
    bench/node.py's floors)."""
    table = holidays_package().country_holidays(country, years=(year - 1, year, year + 1))
    return frozenset(table), frozenset(table.weekend_workdays)


def load_countries(countries: Iterable[str]) -> None:
    """Import the ``holidays`` package and the modules of these countries' calendars, and no other
    country's: what a process that forks workers imports for them, so they share it (cli/slots.py)."""
    package = holidays_package()
    for country in sorted(set(countries)):
        package.country_holidays(country)  # no years: it imports the country's module and computes nothing


def holidays_package() -> ModuleType:
    """The ``holidays`` package, its countries' modules imported one at a time, as they are asked for.

    Its ``holidays.countries`` package imports the module of every country it has (about 250) when any
    one of them is imported, for 8 MiB more than ``import holidays`` itself (bench/node.py's floors);
    the package finds a country's class by that module's name (``holidays.countries.russia``), so an
    empty ``holidays.countries`` with the same search path in its place gives the same classes, each
    imported on its first use: 0.6 MiB for Russia's calendar. Where the real package is already imported,
    it stays."""
    import holidays

    if "holidays.countries" not in sys.modules:
        real = importlib.util.find_spec("holidays.countries")
        if real is not None and real.submodule_search_locations is not None:
            spec = importlib.machinery.ModuleSpec(
                "holidays.countries", None, origin=real.origin, is_package=True
            )
            countries = importlib.util.module_from_spec(spec)
            countries.__path__ = list(real.submodule_search_locations)
            # a thread that got there first wins; the attribute as an import of the package would set it
            holidays.countries = sys.modules.setdefault("holidays.countries", countries)
    return holidays


@functools.lru_cache(maxsize=64)
def business_calendar(spec: CalendarSpec, name: str = DEFAULT_NAME) -> BusinessCalendar:
    """The :class:`BusinessCalendar` of a validated calendar, one per distinct calendar."""
    return BusinessCalendar.from_spec(spec, name)


def _place_day(calendar: BusinessCalendar, day: date) -> tuple[Interval, ...]:
    midnight = datetime.combine(day, time())
    placed: list[Interval] = []
    for first, last in calendar.spans_on(day):
        start = _wall_to_utc(midnight + timedelta(minutes=first), calendar.zone)
        end = _wall_to_utc(midnight + timedelta(minutes=last), calendar.zone)
        if placed and start < placed[-1].end:  # a range starting in a skipped wall hour
            start = placed[-1].end
        if start < end:
            placed.append(Interval(start, end))
    return tuple(placed)


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; :class:`CalendarError` when it has no time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"{moment.isoformat()} has no time zone; pass aware datetimes")
    return moment.astimezone(UTC)


def local_date(calendar: BusinessCalendar, moment: datetime) -> date:
    """The date in the calendar's zone at ``moment``."""
    return as_utc(moment).astimezone(calendar.zone).date()


def working_intervals(
    calendar: BusinessCalendar, start: datetime, end: datetime | None = None
) -> Iterator[Interval]:
    """The working time from ``start`` (to ``end``, or on without end), in order, clipped to both.

    Without ``end`` it raises :class:`CalendarError` after :data:`MAX_IDLE_DAYS` days without any.
    """
    start = as_utc(start)
    until = as_utc(end) if end is not None else None
    if until is not None and until <= start:
        return
    day = local_date(calendar, start) - ONE_DAY
    last_day = local_date(calendar, until) if until is not None else None
    idle, previous_end = 0, start
    while last_day is None or day <= last_day:
        found = False
        for interval in calendar.intervals_on(day):
            if until is not None and interval.start >= until:
                return
            lo, hi = max(interval.start, previous_end), interval.end
            hi = min(hi, until) if until is not None else hi
            if lo < hi:
                found, previous_end = True, hi
                yield Interval(lo, hi)
        idle = 0 if found else idle + 1
        if idle > MAX_IDLE_DAYS:
            raise CalendarError(f"calendar {calendar.name!r} has no working time after {start.isoformat()}")
        day += ONE_DAY


def _merged(pauses: Iterable[Pause]) -> list[Interval]:
    """Pauses in UTC, sorted, overlapping ones merged, empty ones dropped."""
    merged: list[Interval] = []
    for start, end in sorted((as_utc(s), as_utc(e)) for s, e in pauses):
        if end <= start:
            continue
        if merged and start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, end))
        else:
            merged.append(Interval(start, end))
    return merged


def _outside(intervals: Iterable[Interval], pauses: Sequence[Interval]) -> Iterator[Interval]:
    """The parts of ``intervals`` (in order) outside the merged ``pauses``."""
    index = 0
    for interval in intervals:
        start, end = interval
        while start < end:
            while index < len(pauses) and pauses[index].end <= start:
                index += 1
            if index == len(pauses) or pauses[index].start >= end:
                yield Interval(start, end)
                break
            if pauses[index].start > start:
                yield Interval(start, pauses[index].start)
            start = pauses[index].end


def is_working_time(calendar: BusinessCalendar, moment: datetime) -> bool:
    """Whether ``moment`` falls in the calendar's working time."""
    instant = as_utc(moment)
    day = local_date(calendar, instant)
    return any(
        interval.start <= instant < interval.end
        for on in (day - ONE_DAY, day)
        for interval in calendar.intervals_on(on)
    )


def next_working_moment(calendar: BusinessCalendar, moment: datetime) -> datetime:
    """``moment`` when it is working time, else the start of the next working range."""
    return next(working_intervals(calendar, moment)).start


def business_time_between(
    calendar: BusinessCalendar, start: datetime, end: datetime, pauses: Iterable[Pause] = ()
) -> timedelta:
    """The working time in ``[start, end)`` outside ``pauses``; zero when ``end`` is not after ``start``."""
    spans = _outside(working_intervals(calendar, start, end), _merged(pauses))
    return sum((span.length for span in spans), timedelta())


def add_business_time(
    calendar: BusinessCalendar, moment: datetime, amount: timedelta, pauses: Iterable[Pause] = ()
) -> datetime:
    """The moment ``amount`` of working time (outside ``pauses``) after ``moment`` has passed.

    Adding nothing gives ``moment`` back (in UTC), even outside working time.
    """
    if amount < timedelta():
        raise CalendarError(f"cannot add a negative business time ({amount})")
    left = amount
    if not left:
        return as_utc(moment)
    for span in _outside(working_intervals(calendar, moment), _merged(pauses)):
        if left <= span.length:
            return span.start + left
        left -= span.length
    raise AssertionError("working_intervals without an end never stops")  # pragma: no cover


def add_business_days(calendar: BusinessCalendar, moment: datetime, days: int) -> datetime:
    """The same time of day on the ``days``-th working day after ``moment``'s (see the module's text)."""
    if days < 0:
        raise CalendarError(f"cannot add a negative number of business days ({days})")
    start = next_working_moment(calendar, moment)
    wall = start.astimezone(calendar.zone).replace(tzinfo=None)
    day = wall.date()
    for _ in range(days):
        day = next_working_day(calendar, day)
    return _at_time_of_day(calendar, day, wall - datetime.combine(wall.date(), time()))


def add_duration(calendar: BusinessCalendar, moment: datetime, duration: BusinessDuration) -> datetime:
    """``moment`` plus a rule file's duration: its business days first, then its working minutes."""
    if duration.days:
        moment = add_business_days(calendar, moment, duration.days)
    return add_business_time(calendar, moment, timedelta(minutes=duration.minutes))


def next_working_day(calendar: BusinessCalendar, day: date) -> date:
    """The first local date after ``day`` with working time."""
    for _ in range(MAX_IDLE_DAYS):
        day += ONE_DAY
        if calendar.is_working_day(day):
            return day
    raise CalendarError(f"calendar {calendar.name!r} has no working day after {day.isoformat()}")


def _at_time_of_day(calendar: BusinessCalendar, day: date, time_of_day: timedelta) -> datetime:
    """The working moment of ``day`` nearest to ``time_of_day`` (a working day's time of day)."""
    midnight = datetime.combine(day, time())
    spans = calendar.spans_on(day)
    for first, last in spans:
        if time_of_day < timedelta(minutes=last):
            wall = midnight + max(time_of_day, timedelta(minutes=first))
            return _wall_to_utc(wall, calendar.zone)
    return _wall_to_utc(midnight + timedelta(minutes=spans[-1][1]), calendar.zone)


def latest_start(calendar: BusinessCalendar, now: datetime, duration: BusinessDuration) -> datetime:
    """The latest minute ``t`` with ``add_duration(t, duration) <= now``: a clock started at or before it
    has run ``duration`` by ``now`` ("in this status for 20 business days" means "entered it at or
    before ``latest_start(now, 20d)``"). Found by bisection, since ``add_duration`` never runs backwards
    as ``t`` grows; exact to the minute, which is what JQL compares."""
    now = as_utc(now)
    if duration.is_zero:
        return now.replace(second=0, microsecond=0)
    reach = timedelta(days=duration.days * 7 + duration.minutes // 60 + 14)  # weekends, holidays
    low = now - reach
    while add_duration(calendar, low, duration) > now:
        low -= reach
    high = now  # add_duration(high) > now: a positive duration ends after it starts
    low, high = (
        low.replace(second=0, microsecond=0),
        high.replace(second=0, microsecond=0) + timedelta(minutes=1),
    )
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) // 2
        middle = middle.replace(second=0, microsecond=0)
        if add_duration(calendar, middle, duration) <= now:
            low = middle
        else:
            high = middle
    return low
