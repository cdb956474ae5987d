"""Scheduled automations' due times: the latest one after downtime fires once, the business calendar's
days are kept (May holidays, a transferred working Saturday), time zones and DST; checked against a
minute-by-minute oracle with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from config.automations import Trigger
from mappers.calendar import CalendarError, is_working_time
from mappers.schedules import (
    Schedule,
    ScheduleError,
    is_due,
    latest_due,
    next_due,
    occurrence_key,
    schedule_of,
)
from tests.mappers.calendars import BERLIN, MSK, RU, berlin, make, msk

UTC_ZONE = ZoneInfo("UTC")
WORKDAYS_10 = Schedule(zone=MSK, cron="0 10 * * 1-5", calendar=RU)
SATURDAY_WORK = make(timezone="Europe/Moscow", working_days=["2027-02-20"], holidays=None)


def test_after_three_hours_down_only_the_latest_due_time_fires() -> None:
    every = Schedule(zone=MSK, every_minutes=15)
    due = latest_due(every, since=msk(2027, 3, 2, 9, 0), now=msk(2027, 3, 2, 12, 7))
    assert due == msk(2027, 3, 2, 12, 0)
    assert latest_due(every, since=due, now=msk(2027, 3, 2, 12, 14)) is None  # nothing new until 12:15
    assert latest_due(every, since=due, now=msk(2027, 3, 2, 12, 15)) == msk(2027, 3, 2, 12, 15)


def test_the_digest_skips_the_may_holidays_and_fires_once_after_them() -> None:
    # 2027: 1-3 May and 8-10 May are days off in Russia (the 2027 decree); 4-7 May are working days.
    assert latest_due(WORKDAYS_10, since=msk(2027, 4, 30, 10), now=msk(2027, 5, 3, 23)) is None
    assert next_due(WORKDAYS_10, msk(2027, 4, 30, 10)) == msk(2027, 5, 4, 10)
    assert next_due(WORKDAYS_10, msk(2027, 5, 7, 10)) == msk(2027, 5, 11, 10)
    assert latest_due(WORKDAYS_10, since=msk(2027, 4, 30, 10), now=msk(2027, 5, 12, 9)) == msk(
        2027, 5, 11, 10
    )


def test_a_friday_evening_interval_waits_for_monday_morning() -> None:
    hourly = Schedule(zone=MSK, every_minutes=60, calendar=RU)
    assert next_due(hourly, msk(2027, 3, 5, 17, 30)) is not None
    assert next_due(hourly, msk(2027, 3, 5, 18, 30)) == msk(2027, 3, 9, 9)  # 8 March, a Monday, is off
    assert latest_due(hourly, since=msk(2027, 3, 5, 17), now=msk(2027, 3, 8, 23)) is None


def test_a_transferred_working_saturday_keeps_a_saturday_cron_only() -> None:
    saturdays = Schedule(zone=MSK, cron="0 10 * * 6", calendar=SATURDAY_WORK)
    assert next_due(saturdays, msk(2027, 2, 1)) == msk(2027, 2, 20, 10)  # the only working Saturday
    weekdays = Schedule(zone=MSK, cron="0 10 * * 1-5", calendar=SATURDAY_WORK)
    assert next_due(weekdays, msk(2027, 2, 19, 11)) == msk(2027, 2, 22, 10)  # the weekday field rules
    daily = Schedule(zone=MSK, cron="0 10 * * *", calendar=SATURDAY_WORK)
    assert next_due(daily, msk(2027, 2, 19, 11)) == msk(2027, 2, 20, 10)


def test_time_zones_and_dst() -> None:
    berlin_nine = Schedule(zone=BERLIN, cron="0 9 * * *")
    # Berlin goes to summer time on 28 March 2027: 09:00 local is 08:00 UTC before and 07:00 UTC after.
    assert next_due(berlin_nine, berlin(2027, 3, 27, 10)) == datetime(2027, 3, 28, 7, tzinfo=UTC)
    assert next_due(berlin_nine, berlin(2027, 3, 26, 10)) == datetime(2027, 3, 27, 8, tzinfo=UTC)
    two_hourly = Schedule(zone=BERLIN, every_minutes=120)
    assert next_due(two_hourly, berlin(2027, 3, 28, 0, 30)) == berlin(2027, 3, 28, 2).astimezone(UTC)
    # a schedule follows its own zone, not the calendar's
    trigger = Trigger(cron="0 10 * * *", timezone="Asia/Yekaterinburg", calendar="default")
    schedule = schedule_of(trigger, RU, UTC_ZONE)
    assert next_due(schedule, msk(2027, 3, 2, 0)) == msk(2027, 3, 2, 8)
    assert schedule_of(Trigger(every="30m"), None, UTC_ZONE).zone == UTC_ZONE
    assert schedule_of(Trigger(every="30m", calendar="default"), RU, UTC_ZONE).zone == MSK


def test_an_interval_that_does_not_divide_a_day_counts_from_the_epoch() -> None:
    seven = Schedule(zone=MSK, every_minutes=7 * 60)
    due = next_due(seven, datetime(2027, 1, 1, tzinfo=UTC))
    assert due is not None and int(due.timestamp()) % (7 * 3600) == 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ScheduleError):
        Schedule(zone=MSK)
    with pytest.raises(ScheduleError):
        schedule_of(Trigger(event="created"), None, UTC_ZONE)
    with pytest.raises(CalendarError):
        latest_due(WORKDAYS_10, datetime(2027, 1, 1), msk(2027, 1, 2))  # noqa: DTZ001


def test_the_occurrence_key_is_the_due_minute_in_utc() -> None:
    assert occurrence_key(msk(2027, 5, 4, 10)) == "2027-05-04T07:00Z"
    assert is_due(WORKDAYS_10, msk(2027, 5, 4, 10)) and not is_due(WORKDAYS_10, msk(2027, 5, 3, 10))


# -- properties ------------------------------------------------------------------------------------------

CRONS = ["0 10 * * 1-5", "*/15 * * * *", "30 8,13 * * *", "0 0 1 * *", "5 4 * * 0", "0 10 * * 6"]
INTERVALS = [5, 15, 45, 60, 90, 7 * 60, 24 * 60]
ZONES = [MSK, BERLIN, UTC_ZONE, ZoneInfo("America/New_York")]
CALENDARS = [None, RU, SATURDAY_WORK]
moments = st.datetimes(
    min_value=datetime(2026, 12, 20), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    zone, calendar = draw(st.sampled_from(ZONES)), draw(st.sampled_from(CALENDARS))
    if draw(st.booleans()):
        return Schedule(zone=zone, cron=draw(st.sampled_from(CRONS)), calendar=calendar)
    return Schedule(zone=zone, every_minutes=draw(st.sampled_from(INTERVALS)), calendar=calendar)


def oracle(schedule: Schedule, since: datetime, now: datetime) -> datetime | None:
    """Every minute of ``(since, now]`` from the end, checked on its own."""
    minute = now.replace(second=0, microsecond=0)
    while minute > since:
        if _matches(schedule, minute) and _kept(schedule, minute):
            return minute
        minute -= timedelta(minutes=1)
    return None


def _matches(schedule: Schedule, minute: datetime) -> bool:
    if schedule.cron is not None:
        return bool(croniter.match(schedule.cron, minute.astimezone(schedule.zone)))
    step = schedule.every_minutes or 1
    if (24 * 60) % step:
        return int(minute.timestamp()) // 60 % step == 0
    local = minute.astimezone(schedule.zone)
    return (local.hour * 60 + local.minute) % step == 0 and local.fold == 0


def _kept(schedule: Schedule, minute: datetime) -> bool:
    if schedule.calendar is None:
        return True
    if schedule.cron is not None:
        return schedule.calendar.is_working_day(minute.astimezone(schedule.zone).date())
    return is_working_time(schedule.calendar, minute)


@settings(max_examples=40, deadline=None)
@given(schedules(), moments, st.integers(min_value=0, max_value=36 * 60))
def test_latest_due_is_the_last_kept_due_time_of_the_window(
    schedule: Schedule, now: datetime, span: int
) -> None:
    since = now - timedelta(minutes=span)
    assert latest_due(schedule, since, now) == oracle(schedule, since, now)


@settings(max_examples=60, deadline=None)
@given(schedules(), moments, st.integers(min_value=0, max_value=20 * 24 * 60))
def test_firing_the_latest_leaves_nothing_due_until_the_next(
    schedule: Schedule, now: datetime, span: int
) -> None:
    since = now - timedelta(minutes=span)
    due = latest_due(schedule, since, now)
    if due is None:
        following = next_due(schedule, since)
        assert following is None or following > now
        return
    assert since < due <= now and is_due(schedule, due)
    assert latest_due(schedule, due, now) is None  # the same window never fires twice
    following = next_due(schedule, due)  # None: a Saturday cron on a calendar with one working Saturday
    assert following is None or (following > now and latest_due(schedule, due, following) == following)


def test_a_cron_time_a_split_second_after_now_is_not_due_yet() -> None:
    # found by hypothesis: a second earlier than 10:00 Moscow (07:00 UTC), plus a microsecond
    schedule = Schedule(
        zone=ZoneInfo("Europe/Moscow"), cron="0 10 * * 1-5", every_minutes=None, calendar=None
    )
    now = datetime(2026, 12, 28, 6, 59, 59, 1, tzinfo=UTC)
    assert latest_due(schedule, now - timedelta(days=4), now) == datetime(2026, 12, 25, 7, 0, tzinfo=UTC)
