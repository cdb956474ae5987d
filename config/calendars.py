"""Business calendars of the rule file (``calendars:``): working hours, time zone, holidays.

```yaml
calendars:
  support:
    timezone: Europe/Moscow
    hours: {mon-fri: "09:00-13:00,14:00-18:00", sat: ""}
    holidays: RU                   # a country of the `holidays` package; null for none
    extra_holidays: [2027-01-11]
    working_days: [2027-02-27]     # transferred working days (a working Saturday)
```

``hours`` maps weekdays (``mon``…``sun``), ranges of them (``mon-fri``) or lists (``mon,wed``) to
working ranges in the calendar's zone; several ranges a day are allowed, ``""`` is a day off, a day
not mentioned is off, and ``24:00`` ends a day. A key naming fewer days overrides a wider one
(``{mon-fri: "09:00-18:00", fri: "09:00-16:45"}``). A range cannot cross midnight: split it.
Without ``hours`` a calendar works Monday to Friday, 09:00-18:00.

Holidays come from the ``holidays`` package (https://github.com/vacanza/holidays), ``RU`` by default:
its Russian calendar has the statutory holidays since 1991 and the government's transfers of days off
(``special_public_holidays``) with the working weekends they create, through the latest decree it
carries (0.109: the 2027 decree). Years after that have the fixed holidays only, so a new decree
needs a newer package, or ``extra_holidays``/``working_days`` meanwhile. A transferred working day
(the package's or ``working_days``) is worked for ``transferred_hours``, by default the hours of the
first weekday that has any (Monday's for most teams).

The calendar named ``default`` is used wherever none is named; without one in the file, it is
:data:`DEFAULT_CALENDAR` (Europe/Moscow, Monday to Friday 09:00-18:00, Russian holidays).
``mappers.calendar`` does the arithmetic.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, field_validator, model_validator

from config.base import Strict
from config.targets import NAME

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
DEFAULT_NAME = "default"
_RANGE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)$")

Span = tuple[int, int]
"""A working range of one day: minutes from local midnight, start included, end excluded."""
Week = tuple[tuple[Span, ...], ...]
"""Working ranges for Monday … Sunday (seven entries)."""


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Moscow)") from None
    return value


ZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name (``Europe/Moscow``), checked against the zone database."""


def parse_ranges(text: str) -> tuple[Span, ...]:
    """``"09:00-13:00,14:00-18:00"`` → ``((540, 780), (840, 1080))``; ``""`` → no working time."""
    spans: list[Span] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a range of working hours like 09:00-18:00")
        hour1, minute1, hour2, minute2 = map(int, match.groups())
        start, end = hour1 * 60 + minute1, hour2 * 60 + minute2
        if start >= DAY_MINUTES or end > DAY_MINUTES:
            raise ValueError(f"{part!r}: only 24:00 may be written past 23:59, and only as an end")
        if end <= start:
            raise ValueError(f"{part!r} ends before it starts; split a night shift at midnight (24:00)")
        if spans and start < spans[-1][1]:
            raise ValueError(f"{part!r} overlaps or precedes the range before it; list ranges in order")
        spans.append((start, end))
    return tuple(spans)


def format_ranges(spans: tuple[Span, ...]) -> str:
    """``((540, 780), (840, 1080))`` → ``"09:00-13:00,14:00-18:00"``: :func:`parse_ranges` reversed."""
    return ",".join(f"{_clock(start)}-{_clock(end)}" for start, end in spans)


def working_length(spans: tuple[Span, ...]) -> timedelta:
    """How much working time the ranges of a day hold."""
    return timedelta(minutes=sum(end - start for start, end in spans))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_week(week: Week) -> dict[str, str]:
    """A :data:`Week` as the ``hours`` mapping, one key per weekday (what a config export writes)."""
    return {name: format_ranges(spans) for name, spans in zip(WEEKDAYS, week, strict=True)}


def _format_optional(spans: tuple[Span, ...] | None) -> str | None:
    return None if spans is None else format_ranges(spans)


def parse_days(key: str) -> tuple[int, ...]:
    """``"mon-fri"`` → ``(0, 1, 2, 3, 4)``; ``"sat,sun"`` → ``(5, 6)``; weekday numbers from Monday."""
    days: list[int] = []
    for part in (p.strip().lower() for p in str(key).split(",")):
        first, dash, last = part.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ValueError(f"{key!r} is not a weekday (mon … sun), a range (mon-fri) or a list (sat,sun)")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last) if dash else WEEKDAYS.index(first)
        if end < start:
            raise ValueError(f"{key!r}: a range of weekdays runs forward in a week (mon-fri, not fri-mon)")
        days.extend(range(start, end + 1))
    return tuple(days)


def parse_week(value: Any) -> Any:
    """The ``hours`` mapping as a :data:`Week`; a key naming fewer days overrides a wider one."""
    if not isinstance(value, dict):
        return value
    entries = []
    for key, ranges in value.items():
        text = ",".join(map(str, ranges)) if isinstance(ranges, list | tuple) else ranges
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ValueError(f'{key}: write working hours as text, like "09:00-18:00"')
        try:
            entries.append((parse_days(key), parse_ranges(text)))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    week: list[tuple[Span, ...]] = [() for _ in WEEKDAYS]
    set_by: dict[int, int] = {}  # weekday → how many days the key that set it named
    for days, spans in sorted(entries, key=lambda entry: -len(entry[0])):
        for day in days:
            if set_by.get(day) == len(days):
                raise ValueError(f"{WEEKDAYS[day]} is set by two keys naming as many days; keep one")
            set_by[day] = len(days)
            week[day] = spans
    return tuple(week)


def _country(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if not isinstance(value, str):
        raise ValueError("holidays is a country code of the holidays package, like RU, or null")
    code = value.strip().upper()
    if code not in supported_countries():
        raise ValueError(f"the holidays package has no calendar for the country {value!r}")
    return code


@functools.cache
def supported_countries() -> frozenset[str]:
    """The country codes the ``holidays`` package has calendars for, aliases included (what its
    ``list_supported_countries()`` lists), read from its registry (``holidays/registry.py``'s
    ``COUNTRIES``) without importing the package: every process validates the rule file, and importing
    ``holidays`` costs 8.8 MiB, listing its countries 8 more (bench/node.py's floors), in processes (the
    web) that never compute a holiday. Should the registry's shape change, the package is asked."""
    spec = importlib.util.find_spec("holidays")
    try:
        source = Path(spec.origin or "").parent.joinpath("registry.py").read_text() if spec else ""
        for node in ast.parse(source).body:
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == "COUNTRIES"
                and node.value is not None
            ):
                entries = ast.literal_eval(node.value)
                return frozenset(c for entry in entries.values() for c in entry[1:] if 2 <= len(c) <= 3)
    except (OSError, SyntaxError, ValueError, AttributeError, TypeError):
        pass
    import holidays

    return frozenset(holidays.list_supported_countries())


def _ranges_or_none(value: Any) -> Any:
    return parse_ranges(value) if isinstance(value, str) else value


class CalendarSpec(Strict):
    """One business calendar: the working ranges of each weekday in a time zone, and the days off."""

    timezone: ZoneName
    hours: Annotated[Week, BeforeValidator(parse_week), PlainSerializer(format_week)] = Field(
        default_factory=lambda: parse_week({"mon-fri": "09:00-18:00"})
    )
    holidays: Annotated[str | None, BeforeValidator(_country)] = "RU"
    extra_holidays: tuple[date, ...] = ()
    working_days: tuple[date, ...] = ()
    transferred_hours: Annotated[
        tuple[Span, ...] | None, BeforeValidator(_ranges_or_none), PlainSerializer(_format_optional)
    ] = None

    @field_validator("hours")
    @classmethod
    def _seven_days(cls, value: Week) -> Week:
        if len(value) != len(WEEKDAYS):
            raise ValueError('give working hours per weekday, like {mon-fri: "09:00-18:00"}')
        if not any(value):
            raise ValueError("no weekday has working hours")
        return value

    @model_validator(mode="after")
    def _days_disagree_nowhere(self) -> CalendarSpec:
        both = sorted(set(self.extra_holidays) & set(self.working_days))
        if both:
            raise ValueError(f"{', '.join(map(str, both))} listed both in extra_holidays and working_days")
        if self.transferred_hours == ():
            raise ValueError("transferred_hours cannot be empty; leave it out to use a weekday's hours")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def transferred_spans(self) -> tuple[Span, ...]:
        """The hours of a transferred working day: ``transferred_hours``, or the first weekday's with any."""
        return self.transferred_hours or next(spans for spans in self.hours if spans)

    @property
    def day_length(self) -> timedelta:
        """A standard working day (the hours of a transferred working day): what ``1d`` of SLA counts."""
        return working_length(self.transferred_spans)


DEFAULT_CALENDAR = CalendarSpec(timezone="Europe/Moscow")
"""The ``default`` calendar when the rule file has none: Moscow, Monday to Friday 09:00-18:00, RU holidays."""


def _with_default(value: dict[str, CalendarSpec]) -> dict[str, CalendarSpec]:
    bad = [name for name in value if not re.fullmatch(NAME, name)]
    if bad:
        raise ValueError(f"calendar names must be lowercase slugs starting with a letter: {bad}")
    return {DEFAULT_NAME: DEFAULT_CALENDAR, **value}


Calendars = Annotated[dict[str, CalendarSpec], AfterValidator(_with_default)]
"""The ``calendars:`` section: calendars by name, always with a ``default`` one."""


def holiday_countries(calendars: dict[str, CalendarSpec]) -> frozenset[str]:
    """The countries whose public holidays these calendars take (``holidays:``), each once."""
    return frozenset(spec.holidays for spec in calendars.values() if spec.holidays)
