"""Business calendars in the rule file: hours per weekday, zones, holidays; errors name file, calendar, field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.calendars import (
    DAY_MINUTES,
    DEFAULT_CALENDAR,
    WEEKDAYS,
    CalendarSpec,
    format_ranges,
    parse_days,
    parse_ranges,
    parse_week,
)
from config.loading import load_config
from config.rules import HubConfig
from config.settings import Settings
from tests.conftest import REPO_ROOT


def calendar(**fields: object) -> str:
    lines = "".join(f"    {key}: {value}\n" for key, value in {"timezone": "Europe/Moscow", **fields}.items())
    return f"calendars:\n  support:\n{lines}"


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("09:00-18:00", ((540, 1080),)),
        ("09:00-13:00,14:00-18:00", ((540, 780), (840, 1080))),
        (" 9:30 - 12:00 , 13:00-17:15 ", ((570, 720), (780, 1035))),
        ("00:00-24:00", ((0, 1440),)),
        ("", ()),
        (",", ()),
    ],
)
def test_working_ranges_are_read_as_minutes_of_the_day(text: str, spans: tuple[tuple[int, int], ...]) -> None:
    assert parse_ranges(text) == spans


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("9-18", "not a range of working hours"),
        ("09:00-18:60", "not a range of working hours"),
        ("22:00-06:00", "split a night shift at midnight"),
        ("18:00-18:00", "ends before it starts"),
        ("24:00-24:00", "only 24:00"),
        ("09:00-13:00,12:00-18:00", "overlaps or precedes"),
        ("14:00-18:00,09:00-13:00", "overlaps or precedes"),
    ],
)
def test_bad_working_ranges_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_ranges(text)


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("sat", (5,)),
        ("SAT,sun", (5, 6)),
        ("mon,wed-thu", (0, 2, 3)),
    ],
)
def test_weekday_keys(key: str, days: tuple[int, ...]) -> None:
    assert parse_days(key) == days


@pytest.mark.parametrize("key", ["mon-fry", "fri-mon", "weekdays", ""])
def test_bad_weekday_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="weekday"):
        parse_days(key)


def test_a_key_naming_fewer_days_overrides_a_wider_one_whatever_the_order() -> None:
    week = parse_week({"fri": "09:00-16:45", "mon-fri": "09:00-13:00,14:00-18:00", "sat": ""})
    assert week[0] == week[3] == ((540, 780), (840, 1080))
    assert week[4] == ((540, 1005),)
    assert week[5] == week[6] == ()


def test_two_keys_of_the_same_width_for_one_day_are_refused() -> None:
    with pytest.raises(ValueError, match="fri is set by two keys"):
        parse_week({"thu-fri": "09:00-18:00", "fri-sat": "10:00-12:00"})


def test_hours_may_be_a_list_of_ranges_and_a_day_may_be_left_empty() -> None:
    spec = CalendarSpec(
        timezone="Asia/Yekaterinburg", hours={"mon-thu": ["08:00-12:00", "13:00-17:00"], "fri": None}
    )
    assert spec.hours[0] == ((480, 720), (780, 1020))
    assert spec.hours[4] == ()
    assert spec.day_length == timedelta(hours=8)


def test_a_calendar_without_hours_works_monday_to_friday_nine_to_six() -> None:
    spec = CalendarSpec(timezone="Europe/Moscow")
    assert spec.hours == tuple(((540, 1080),) if day < 5 else () for day in range(len(WEEKDAYS)))
    assert spec.holidays == "RU"
    assert spec.day_length == timedelta(hours=9)


def test_transferred_hours_default_to_the_first_weekday_with_hours() -> None:
    spec = CalendarSpec(timezone="Europe/Moscow", hours={"tue-sat": "10:00-19:00", "mon": ""})
    assert spec.transferred_spans == ((600, 1140),)
    custom = CalendarSpec(timezone="Europe/Moscow", transferred_hours="10:00-15:00")
    assert custom.transferred_spans == ((600, 900),)
    assert custom.day_length == timedelta(hours=5)


def test_no_calendars_section_still_gives_the_default_calendar(
    parse_section: Callable[[str], HubConfig],
) -> None:
    config = parse_section("")
    assert config.calendar() == DEFAULT_CALENDAR
    assert config.calendar("default").timezone == "Europe/Moscow"


def test_a_named_calendar_and_the_default_one(parse_section: Callable[[str], HubConfig]) -> None:
    config = parse_section(
        calendar(hours='{mon-fri: "10:00-19:00"}', holidays="null", extra_holidays="[2027-01-11]")
    )
    support = config.calendar("support")
    assert support.hours[0] == ((600, 1140),)
    assert support.holidays is None
    assert support.extra_holidays == (date(2027, 1, 11),)
    assert config.calendar() == DEFAULT_CALENDAR
    with pytest.raises(KeyError):
        config.calendar("nowhere")


def test_the_file_may_redefine_the_default_calendar(parse_section: Callable[[str], HubConfig]) -> None:
    config = parse_section("calendars:\n  default: {timezone: Asia/Vladivostok}\n")
    assert config.calendar().timezone == "Asia/Vladivostok"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            calendar(timezone="Mars/Olympus"),
            "hub.yaml: calendars.support: timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "calendars:\n  support: {hours: {mon: '09:00-18:00'}}\n",
            "calendars.support: timezone: Field required",
        ),
        (calendar(hours="{mon-fri: '9-18'}"), "calendars.support: hours: mon-fri: '9-18' is not a range"),
        (
            calendar(hours="{mon-fry: '09:00-18:00'}"),
            "calendars.support: hours: mon-fry: 'mon-fry' is not a weekday",
        ),
        (calendar(hours="{mon-fri: ''}"), "calendars.support: hours: no weekday has working hours"),
        (calendar(hours="{mon: 9}"), "calendars.support: hours: mon: write working hours as text"),
        (
            calendar(holidays="XX"),
            "calendars.support: holidays: the holidays package has no calendar for the country 'XX'",
        ),
        (calendar(extra_holidays="[someday]"), "calendars.support: extra_holidays.0:"),
        (
            calendar(extra_holidays="[2027-01-09]", working_days="[2027-01-09]"),
            "calendars.support: 2027-01-09 listed both in extra_holidays and working_days",
        ),
        (calendar(transferred_hours="''"), "calendars.support: transferred_hours cannot be empty"),
        (calendar(colour="red"), "calendars.support: colour: Extra inputs are not permitted"),
        (
            "calendars:\n  Support: {timezone: UTC}\n",
            "hub.yaml: calendars: calendar names must be lowercase slugs",
        ),
    ],
)
def test_errors_name_the_file_the_calendar_and_the_field(
    body: str, expected: str, section_error: Callable[[str], str]
) -> None:
    assert expected in section_error(body)


def test_quiet_hours_share_the_zone_check(section_error: Callable[[str], str]) -> None:
    body = "replies:\n  quiet_hours: {start: '22:00', end: '08:00', timezone: Europe/Atlantis}\n"
    assert "replies.quiet_hours.timezone: unknown time zone 'Europe/Atlantis'" in section_error(body)


def test_the_shipped_rule_file_has_the_russian_default_calendar() -> None:
    config = load_config(Settings())
    default = config.calendar()
    assert default.timezone == "Europe/Moscow"
    assert default.holidays == "RU"
    assert default.hours[:5] == (((540, 1080),),) * 5
    assert default.hours[5:] == ((), ())


# What the `holidays` package (0.109) carries for Russia, which the calendars rely on. Its source cites
# the decrees (consultant.ru, "Производственный календарь"): 2026 — transfers Jan 3 → Jan 9 and
# Jan 4 → Dec 31, Victory Day (Sat May 9) observed on Mon May 11; 2027 — Feb 20 (Sat) worked for
# Mon Feb 22, Jan 2 → Nov 5, Jan 3 → Dec 31.
@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 9), False),  # transferred from Sat Jan 3
        (date(2026, 1, 12), True),
        (date(2026, 5, 1), False),  # Labour Day, a Friday
        (date(2026, 5, 4), True),  # the 2026 May holidays are May 1-3 and 9-11: May 4-8 are worked
        (date(2026, 5, 8), True),
        (date(2026, 5, 11), False),  # Victory Day (Saturday) observed
        (date(2026, 12, 31), False),  # transferred from Sun Jan 4
        (date(2027, 2, 20), True),  # a working Saturday
        (date(2027, 2, 22), False),
        (date(2027, 11, 5), False),
        (date(2025, 11, 1), True),  # a working Saturday of 2025
    ],
)
def test_the_holidays_package_knows_the_russian_transfers(day: date, working: bool) -> None:
    assert holidays.RU(years=day.year).is_working_day(day) is working


def test_the_readme_example_is_a_valid_rule_file(parse_section: Callable[[str], HubConfig]) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Business calendar and SLA", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_section(example)
    assert config.calendar("support").hours[4] == ((540, 960),)
    assert config.sla is not None and config.sla.calendar == "support"


day_spans = st.lists(st.integers(0, DAY_MINUTES), max_size=8, unique=True).map(
    lambda points: tuple(zip(sorted(points)[::2], sorted(points)[1::2], strict=False))
)


@given(day_spans)
def test_ranges_print_as_they_parse(spans: tuple[tuple[int, int], ...]) -> None:
    assert parse_ranges(format_ranges(spans)) == spans


@given(st.lists(day_spans, min_size=7, max_size=7).filter(any), st.sampled_from([None, "RU", "DE"]))
def test_a_calendar_exports_as_a_file_would_write_it(week: list, country: str | None) -> None:
    spec = CalendarSpec(
        timezone="Europe/Berlin", hours=tuple(week), holidays=country, working_days=[date(2027, 2, 27)]
    )
    exported = spec.model_dump(mode="json")
    assert set(exported["hours"]) == set(WEEKDAYS)
    assert CalendarSpec.model_validate(exported) == spec


def test_an_sla_section_exports_as_written(parse_section: Callable[[str], HubConfig]) -> None:
    config = parse_section("sla:\n  targets: [{priority: High, first_response: 1h30m, resolution: 2d4h}]\n")
    exported = config.model_dump(mode="json")
    assert exported["sla"]["targets"][0] == {
        "priority": ["High"],
        "projects": [],
        "first_response": "1h30m",
        "resolution": "2d4h",
    }
    assert HubConfig.model_validate(exported) == config


def test_the_country_codes_read_from_the_holidays_registry_are_the_packages_own() -> None:
    import holidays

    from config.calendars import supported_countries

    assert supported_countries() == frozenset(holidays.list_supported_countries())
