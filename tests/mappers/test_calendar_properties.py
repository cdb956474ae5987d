"""Properties of business-time arithmetic on calendars with holidays, lunch breaks, DST and none of them.

The oracle for "is this minute working time" is written from the `holidays` package's own
``is_working_day`` and the weekday's hours, not from the calendar code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mappers.calendar import (
    BusinessCalendar,
    add_business_days,
    add_business_time,
    business_time_between,
    is_working_time,
    next_working_moment,
)
from tests.mappers.calendars import AROUND_THE_CLOCK, BERLIN_OFFICE, LUNCH, RU

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CALENDARS = [RU, LUNCH, BERLIN_OFFICE, AROUND_THE_CLOCK]
TABLES = {"RU": holidays.RU(years=range(2024, 2030)), "DE": holidays.DE(years=range(2024, 2030))}

calendars = st.sampled_from(CALENDARS)
moments = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 1), timezones=st.just(UTC))
amounts = st.timedeltas(timedelta(), timedelta(hours=200))
pauses = st.lists(st.tuples(moments, st.timedeltas(timedelta(), timedelta(days=5))), max_size=4).map(
    lambda items: [(start, start + length) for start, length in items]
)
US = timedelta(microseconds=1)


def oracle_working(calendar: BusinessCalendar, moment: datetime) -> bool:
    local = moment.astimezone(calendar.zone)
    day: date = local.date()
    if calendar.country is not None and not TABLES[calendar.country].is_working_day(day):
        return False
    hours = calendar.week[day.weekday()]
    if not hours and calendar.country is not None:
        # a weekend day the country's table makes a working day (holidays' weekend_workdays, such as
        # Saturday 2027-02-20 in Russia) is worked for the calendar's transferred hours
        hours = calendar.transferred
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours)


@PROFILE
@given(calendars, moments, amounts)
def test_adding_then_measuring_gives_the_amount_back(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    due = add_business_time(calendar, start, amount)
    assert business_time_between(calendar, start, due) == amount
    if amount:
        assert is_working_time(calendar, due - US)  # the last instant counted is working time


@PROFILE
@given(calendars, moments, amounts, pauses)
def test_adding_then_measuring_with_pauses_gives_the_amount_back(
    calendar: BusinessCalendar, start: datetime, amount: timedelta, paused: list[tuple[datetime, datetime]]
) -> None:
    due = add_business_time(calendar, start, amount, paused)
    assert business_time_between(calendar, start, due, paused) == amount
    assert due >= add_business_time(calendar, start, amount)  # a pause never brings a due moment closer


@PROFILE
@given(calendars, st.lists(moments, min_size=3, max_size=3).map(sorted), pauses)
def test_durations_add_up_over_a_split(
    calendar: BusinessCalendar, points: list[datetime], paused: list
) -> None:
    a, b, c = points
    whole = business_time_between(calendar, a, c, paused)
    assert whole == business_time_between(calendar, a, b, paused) + business_time_between(
        calendar, b, c, paused
    )
    assert whole <= business_time_between(calendar, a, c) <= c - a


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calendars,
    moments.map(lambda m: m.replace(second=0, microsecond=0)),
    st.integers(0, 2 * 24 * 60),
)
@example(RU, datetime(2027, 2, 20, 0, 0, tzinfo=UTC), 6 * 60 + 1)  # the working Saturday (CI, 2026-12-07)
def test_only_working_minutes_are_counted(calendar: BusinessCalendar, start: datetime, minutes: int) -> None:
    ends = [start + timedelta(minutes=n) for n in range(minutes)]
    working = sum(oracle_working(calendar, minute) for minute in ends)
    assert business_time_between(calendar, start, start + timedelta(minutes=minutes)) == timedelta(
        minutes=working
    )


@PROFILE
@given(calendars, moments)
def test_working_time_is_what_the_holiday_table_and_the_hours_say(
    calendar: BusinessCalendar, moment: datetime
) -> None:
    assert is_working_time(calendar, moment) == oracle_working(calendar, moment)


@PROFILE
@given(calendars, moments)
def test_the_next_working_moment_is_the_first_one(calendar: BusinessCalendar, moment: datetime) -> None:
    found = next_working_moment(calendar, moment)
    assert found >= moment
    assert is_working_time(calendar, found)
    assert business_time_between(calendar, moment, found) == timedelta()


@PROFILE
@given(
    calendars,
    st.lists(moments, min_size=2, max_size=2).map(sorted),
    st.lists(amounts, min_size=2, max_size=2).map(sorted),
)
def test_adding_is_monotonic(
    calendar: BusinessCalendar, starts: list[datetime], added: list[timedelta]
) -> None:
    (early, late), (less, more) = starts, added
    assert add_business_time(calendar, early, less) <= add_business_time(calendar, late, less)
    assert add_business_time(calendar, early, less) <= add_business_time(calendar, early, more)


@PROFILE
@given(
    calendars,
    st.lists(moments, min_size=2, max_size=2).map(sorted),
    st.lists(st.integers(0, 30), min_size=2, max_size=2).map(sorted),
)
def test_adding_business_days_is_monotonic_and_counts_working_days(
    calendar: BusinessCalendar, starts: list[datetime], days: list[int]
) -> None:
    (early, late), (fewer, more) = starts, days
    due = add_business_days(calendar, early, fewer)
    assert due <= add_business_days(calendar, late, fewer)
    assert due <= add_business_days(calendar, early, more)
    first = next_working_moment(calendar, early).astimezone(calendar.zone).date()
    last = due.astimezone(calendar.zone).date()
    between = [first + timedelta(days=n) for n in range(1, (last - first).days + 1)]
    assert sum(calendar.is_working_day(day) for day in between) == fewer
    assert calendar.is_working_day(last)
