"""Business-time arithmetic: a Friday-evening issue, the May holidays, a working Saturday, time zones, DST.

Holiday facts come from the `holidays` package 0.109 (its RU calendar cites the government decrees on
consultant.ru): in 2026 May 1-3 and 9-11 are off and May 4-8 are worked; Saturday 2027-02-20 is a
working day (for Monday Feb 22), and so is Saturday 2025-11-01. tests/config/test_calendars.py checks
those facts against the package itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from config.calendars import DEFAULT_CALENDAR, CalendarSpec
from config.durations import BusinessDuration
from mappers.calendar import (
    CalendarError,
    add_business_days,
    add_business_time,
    add_duration,
    business_calendar,
    business_time_between,
    is_working_time,
    next_working_moment,
    working_intervals,
)
from tests.mappers.calendars import AROUND_THE_CLOCK, BERLIN_OFFICE, LUNCH, RU, H, M, berlin, make, msk


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        # a Friday-evening issue: nothing counts until Monday 09:00
        (msk(2026, 3, 20, 19), 1 * H, msk(2026, 3, 23, 10)),
        (msk(2026, 3, 20, 17), 2 * H, msk(2026, 3, 23, 10)),
        (msk(2026, 3, 20, 17), 1 * H, msk(2026, 3, 20, 18)),  # the working hour ends at 18:00 on Friday
        (msk(2026, 3, 21, 12), 30 * M, msk(2026, 3, 23, 9, 30)),  # Saturday
        (msk(2026, 3, 23, 9), 9 * H, msk(2026, 3, 23, 18)),
        (msk(2026, 3, 23, 9), 9 * H + M, msk(2026, 3, 24, 9, 1)),
        # the May holidays of 2026: May 1-3 and 9-11 off
        (msk(2026, 4, 30, 17), 4 * H, msk(2026, 5, 4, 12)),
        (msk(2026, 5, 8, 17), 2 * H, msk(2026, 5, 12, 10)),
        (msk(2026, 4, 30, 9), 54 * H, msk(2026, 5, 8, 18)),  # Apr 30 and May 4-8: 6 days of 9 h
        # New Year 2026: Jan 1-11 off (Jan 9 transferred from Sat Jan 3)
        (msk(2025, 12, 30, 17), 2 * H, msk(2026, 1, 12, 10)),
        # a transferred working Saturday: 2027-02-20 is worked, Feb 22-23 are off
        (msk(2027, 2, 19, 17), 2 * H, msk(2027, 2, 20, 10)),
        (msk(2027, 2, 20, 17), 2 * H, msk(2027, 2, 24, 10)),
        # an issue at 23:30 UTC on Thursday is Friday 02:30 in Moscow
        (datetime(2026, 3, 19, 23, 30, tzinfo=UTC), 1 * H, msk(2026, 3, 20, 10)),
        (datetime(2026, 3, 20, 23, 30, tzinfo=UTC), 1 * H, msk(2026, 3, 23, 10)),  # Saturday 02:30 in Moscow
        (msk(2026, 3, 23, 11), timedelta(), msk(2026, 3, 23, 11)),
        (msk(2026, 3, 21, 11), timedelta(), msk(2026, 3, 21, 11)),  # adding nothing does not move
    ],
)
def test_adding_working_time_on_the_russian_calendar(
    start: datetime, amount: timedelta, due: datetime
) -> None:
    assert add_business_time(RU, start, amount) == due


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (msk(2026, 3, 23, 12), 2 * H, msk(2026, 3, 23, 15)),  # lunch 13:00-14:00 does not count
        (msk(2026, 3, 23, 13, 30), 30 * M, msk(2026, 3, 23, 14, 30)),
        (msk(2026, 3, 27, 15), 2 * H, msk(2026, 3, 30, 10)),  # Friday ends at 16:00
    ],
)
def test_several_ranges_a_day(start: datetime, amount: timedelta, due: datetime) -> None:
    assert add_business_time(LUNCH, start, amount) == due


@pytest.mark.parametrize(
    ("start", "end", "amount"),
    [
        (msk(2026, 3, 20, 17), msk(2026, 3, 23, 10), 2 * H),
        (msk(2026, 4, 30, 9), msk(2026, 5, 12, 9), 54 * H),
        (msk(2026, 5, 1), msk(2026, 5, 4), timedelta()),  # a holiday weekend
        (msk(2027, 2, 20, 0), msk(2027, 2, 21, 0), 9 * H),  # the working Saturday
        (msk(2026, 3, 23, 12), msk(2026, 3, 23, 10), timedelta()),  # end before start
        (datetime(2026, 3, 19, 23, 30, tzinfo=UTC), datetime(2026, 3, 20, 7, 0, tzinfo=UTC), 1 * H),
    ],
)
def test_working_time_between_two_moments(start: datetime, end: datetime, amount: timedelta) -> None:
    assert business_time_between(RU, start, end) == amount


def test_pauses_are_left_out_however_they_overlap() -> None:
    start, end = msk(2026, 3, 23, 9), msk(2026, 3, 24, 18)  # two working days: 18 h
    pauses = [
        (msk(2026, 3, 23, 10), msk(2026, 3, 23, 12)),
        (msk(2026, 3, 23, 11), msk(2026, 3, 23, 13)),  # overlaps the first: 10-13 paused
        (msk(2026, 3, 23, 20), msk(2026, 3, 24, 10)),  # over the night: only 09-10 counts
        (msk(2026, 3, 25, 9), msk(2026, 3, 25, 12)),  # after the end
        (msk(2026, 3, 24, 15), msk(2026, 3, 24, 15)),  # empty
    ]
    assert business_time_between(RU, start, end, pauses) == 18 * H - 3 * H - 1 * H
    assert add_business_time(RU, start, 14 * H, pauses) == end


def test_an_open_ended_pause_is_not_needed_to_add_time_after_it() -> None:
    pauses = [(msk(2026, 3, 23, 9), msk(2026, 3, 26, 9))]
    assert add_business_time(RU, msk(2026, 3, 23, 9), 1 * H, pauses) == msk(2026, 3, 26, 10)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (msk(2026, 3, 17, 15), 2, msk(2026, 3, 19, 15)),  # Tuesday 15:00 → Thursday 15:00
        (msk(2026, 3, 20, 15), 1, msk(2026, 3, 23, 15)),  # Friday → Monday
        (msk(2026, 3, 20, 20), 2, msk(2026, 3, 25, 9)),  # Friday evening: counted from Monday 09:00
        (msk(2026, 3, 21, 11), 2, msk(2026, 3, 25, 9)),  # Saturday likewise
        (msk(2026, 3, 20, 20), 0, msk(2026, 3, 23, 9)),  # zero days: the next working moment
        (msk(2026, 4, 30, 15), 2, msk(2026, 5, 5, 15)),  # over May 1-3
        (msk(2026, 5, 8, 10), 1, msk(2026, 5, 12, 10)),  # over May 9-11
        (msk(2027, 2, 19, 10), 1, msk(2027, 2, 20, 10)),  # onto the working Saturday
        (msk(2027, 2, 20, 10), 1, msk(2027, 2, 24, 10)),  # and over Feb 22-23
    ],
)
def test_adding_business_days(start: datetime, days: int, due: datetime) -> None:
    assert add_business_days(RU, start, days) == due


def test_business_days_land_in_the_hours_of_the_day_they_land_on() -> None:
    # Thursday 17:30 + 1 day lands on a Friday that ends at 16:00: the end of that Friday
    assert add_business_days(LUNCH, msk(2026, 3, 26, 17, 30), 1) == msk(2026, 3, 27, 16)
    # a start in the lunch break counts from 14:00
    assert add_business_days(LUNCH, msk(2026, 3, 24, 13, 30), 1) == msk(2026, 3, 25, 14)


def test_a_duration_adds_its_days_then_its_minutes() -> None:
    assert add_duration(RU, msk(2026, 3, 17, 15), BusinessDuration(days=1, minutes=240)) == msk(
        2026, 3, 19, 10
    )
    assert add_duration(RU, msk(2026, 3, 17, 15), BusinessDuration()) == msk(2026, 3, 17, 15)


@pytest.mark.parametrize(
    ("moment", "working", "next_moment"),
    [
        (msk(2026, 3, 23, 9), True, msk(2026, 3, 23, 9)),
        (msk(2026, 3, 23, 18), False, msk(2026, 3, 24, 9)),  # the end of a range is not in it
        (msk(2026, 3, 23, 17, 59), True, msk(2026, 3, 23, 17, 59)),
        (msk(2026, 3, 20, 19), False, msk(2026, 3, 23, 9)),
        (msk(2026, 5, 1, 10), False, msk(2026, 5, 4, 9)),
        (msk(2026, 12, 30, 19), False, msk(2027, 1, 11, 9)),  # Dec 31 and Jan 1-10 2027 are off
        (msk(2027, 2, 20, 12), True, msk(2027, 2, 20, 12)),
        (datetime(2026, 3, 23, 5, 59, tzinfo=UTC), False, msk(2026, 3, 23, 9)),
        (datetime(2026, 3, 23, 6, 0, tzinfo=UTC), True, msk(2026, 3, 23, 9)),
    ],
)
def test_working_time_and_the_next_working_moment(
    moment: datetime, working: bool, next_moment: datetime
) -> None:
    assert is_working_time(RU, moment) is working
    assert next_working_moment(RU, moment) == next_moment


def test_extra_holidays_and_transferred_working_days_from_the_file() -> None:
    calendar = make(
        timezone="Europe/Moscow",
        extra_holidays=[date(2026, 3, 23)],
        working_days=[date(2026, 3, 28), date(2026, 5, 4 + 7)],  # a Saturday, and May 11 (a holiday)
        transferred_hours="10:00-15:00",
    )
    assert add_business_time(calendar, msk(2026, 3, 20, 17), 2 * H) == msk(2026, 3, 24, 10)  # Mon 23 off
    assert add_business_time(calendar, msk(2026, 3, 27, 17), 2 * H) == msk(2026, 3, 28, 11)  # Saturday 10-15
    assert business_time_between(calendar, msk(2026, 3, 28), msk(2026, 3, 29)) == 5 * H
    assert calendar.spans_on(date(2026, 5, 11)) == ((540, 1080),)  # a Monday: the week's hours, not 10-15


def test_a_calendar_without_country_holidays_works_on_them() -> None:
    calendar = make(timezone="Europe/Moscow", holidays=None)
    assert is_working_time(calendar, msk(2026, 5, 1, 10))
    assert not is_working_time(RU, msk(2026, 5, 1, 10))


def test_the_berlin_march_change_is_an_hour_shorter() -> None:
    # Europe/Berlin moves from +01:00 to +02:00 at 02:00 on Sunday 2026-03-29
    assert business_time_between(AROUND_THE_CLOCK, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert add_business_time(AROUND_THE_CLOCK, berlin(2026, 3, 29), 24 * H) == berlin(2026, 3, 30, 1)
    assert business_time_between(AROUND_THE_CLOCK, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H


def test_office_hours_keep_their_wall_clock_over_the_change() -> None:
    friday, monday = berlin(2026, 3, 27, 17), berlin(2026, 3, 30, 10)
    assert friday.utcoffset() == H and monday.utcoffset() == 2 * H
    assert add_business_time(BERLIN_OFFICE, friday, 2 * H) == monday
    assert business_time_between(BERLIN_OFFICE, friday, monday) == 2 * H
    assert add_business_days(BERLIN_OFFICE, friday, 1) == berlin(2026, 3, 30, 17)
    assert not is_working_time(BERLIN_OFFICE, berlin(2026, 4, 6, 10))  # Easter Monday in Germany


def test_moscow_is_not_assumed_to_be_without_dst() -> None:
    # Moscow changed to summer time on 2010-03-28 (+03:00 → +04:00); a day of it is 23 hours long
    moscow_2010 = make(timezone="Europe/Moscow", hours={"mon-sun": "00:00-24:00"}, holidays=None)
    assert business_time_between(moscow_2010, msk(2010, 3, 28), msk(2010, 3, 29)) == 23 * H
    assert add_business_time(RU, msk(2010, 3, 26, 17), 2 * H) == msk(2010, 3, 29, 10)
    assert msk(2010, 3, 29, 10).utcoffset() == 4 * H


def test_a_range_in_the_skipped_hour_is_read_with_the_offset_before_the_change() -> None:
    night = make(timezone="Europe/Berlin", hours={"sun": "01:00-03:00"}, holidays=None)
    # 01:00-02:00 exists, 02:00-03:00 does not: the range is one real hour long
    assert business_time_between(night, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 1 * H


def test_results_are_in_utc() -> None:
    due = add_business_time(RU, msk(2026, 3, 23, 9), 1 * H)
    assert due.tzinfo is UTC and due == datetime(2026, 3, 23, 7, tzinfo=UTC)
    assert all(i.start.tzinfo is UTC for i in working_intervals(RU, msk(2026, 3, 23), msk(2026, 3, 25)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: is_working_time(RU, datetime(2026, 3, 23, 10)),
        lambda: add_business_time(RU, datetime(2026, 3, 23, 10), H),
        lambda: business_time_between(RU, msk(2026, 3, 23), datetime(2026, 3, 24)),
        lambda: add_business_time(RU, msk(2026, 3, 23), -H),
        lambda: add_business_days(RU, msk(2026, 3, 23), -1),
    ],
)
def test_naive_moments_and_negative_amounts_are_refused(call: object) -> None:
    with pytest.raises(CalendarError):
        call()  # type: ignore[operator]


def test_a_calendar_with_no_working_time_ahead_says_so_instead_of_looping() -> None:
    every_day = [date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366)]
    closed = make(timezone="UTC", holidays=None, extra_holidays=every_day)
    with pytest.raises(CalendarError, match="no working time"):
        next_working_moment(closed, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(CalendarError, match="no working day"):
        add_business_days(closed, datetime(2025, 12, 31, 10, tzinfo=UTC), 1)


def test_the_calendar_of_a_spec_is_built_once() -> None:
    assert business_calendar(DEFAULT_CALENDAR) is RU
    assert business_calendar(CalendarSpec(timezone="Europe/Moscow")) is RU  # an equal spec, as after a reload
