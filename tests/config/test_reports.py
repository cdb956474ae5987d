"""The reports: section: the weekly report's schedule, calendar, trackers and recipients; errors name the
file and the field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from config.rules import HubConfig


def test_the_weekly_report_defaults_to_monday_9_on_the_default_calendar_and_posts_nowhere(
    parse_section: Callable[[str], HubConfig],
) -> None:
    weekly = parse_section("").reports.weekly
    assert (weekly.cron, weekly.calendar, weekly.business_hours) == ("0 9 * * 1", "default", True)
    assert (weekly.telegram_chat, weekly.email, weekly.trackers) == (None, (), ())


def test_recipients_read_as_the_notices_do(parse_section: Callable[[str], HubConfig]) -> None:
    body = "reports: {weekly: {telegram_chat: '-100123', email: 'a@x.org, b@x.org', trackers: [kaiten]}}\n"
    weekly = parse_section(body).reports.weekly
    assert (weekly.telegram_chat, weekly.email, weekly.trackers) == (
        -100123,
        ("a@x.org", "b@x.org"),
        ("kaiten",),
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "reports: {weekly: {calendar: suport}}\n",
            "reports: weekly.calendar: unknown calendar 'suport'; the calendars are default",
        ),
        ("reports: {weekly: {trackers: [jria]}}\n", "weekly.trackers: unknown trackers ['jria']"),
        (
            "reports: {weekly: {cron: 'mondays at 9'}}\n",
            "reports.weekly.cron: 'mondays at 9' is not a cron expression",
        ),
        ("reports: {weekly: {email: 'team'}}\n", "reports.weekly.email: not e-mail addresses: ['team']"),
        (
            "reports: {weekly: {telegram_chat: 'team chat'}}\n",
            "reports.weekly.telegram_chat: a Telegram chat is",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_field(
    section_error: Callable[[str], str], body: str, expected: str
) -> None:
    error = section_error(body)
    assert error.startswith("hub.yaml: ") and expected in error, error
