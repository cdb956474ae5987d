"""Calendars shared by the calendar and SLA tests, and moments written in their zones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from config.calendars import DEFAULT_CALENDAR, CalendarSpec
from mappers.calendar import BusinessCalendar, business_calendar

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
RU = business_calendar(DEFAULT_CALENDAR)  # Moscow, Mon-Fri 09:00-18:00, Russian holidays
H = timedelta(hours=1)
M = timedelta(minutes=1)


def msk(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=MSK)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def make(name: str = "t", **fields: object) -> BusinessCalendar:
    return BusinessCalendar.from_spec(CalendarSpec(**fields), name)  # type: ignore[arg-type]


LUNCH = make(timezone="Europe/Moscow", hours={"mon-fri": "09:00-13:00,14:00-18:00", "fri": "09:00-16:00"})
BERLIN_OFFICE = make(timezone="Europe/Berlin", hours={"mon-fri": "09:00-18:00"}, holidays="DE")
AROUND_THE_CLOCK = make(timezone="Europe/Berlin", hours={"mon-sun": "00:00-24:00"}, holidays=None)
