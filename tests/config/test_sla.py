"""The sla: section: targets per priority and project, pause statuses; errors name file and field."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from config.durations import BusinessDuration
from config.loading import load_config
from config.rules import HubConfig
from config.settings import Settings

POLICY = """
calendars:
  support: {timezone: Europe/Moscow}
sla:
  calendar: support
  start: assigned
  pause_statuses: ["Waiting for customer", 101]
  targets:
    - {priority: Highest, first_response: 1h, resolution: 8h}
    - {priority: [High, Major], projects: [SUP, 10], first_response: 4h, resolution: 2d}
    - {priority: High, resolution: 3d}
    - {first_response: 8h, resolution: 5d}
"""


@pytest.mark.parametrize(
    ("priority", "project", "first_response", "resolution"),
    [
        ("Highest", "ANY", "1h", "8h"),
        ("highest", None, "1h", "8h"),  # priorities compare in any case
        ("High", "SUP", "4h", "2d"),
        ("major", "10", "4h", "2d"),  # a Kaiten board id written as a number
        ("High", "OPS", None, "3d"),  # the project-specific target does not cover OPS
        ("Medium", "SUP", "8h", "5d"),
        (None, None, "8h", "5d"),
    ],
)
def test_the_first_target_that_fits_applies(
    priority: str | None,
    project: str | None,
    first_response: str | None,
    resolution: str | None,
    parse_section: Callable[[str], HubConfig],
) -> None:
    sla = parse_section(POLICY).sla
    assert sla is not None
    target = sla.target_for(priority, project)
    assert target is not None
    assert (str(target.first_response) if target.first_response else None) == first_response
    assert str(target.resolution) == resolution


def test_section_settings(parse_section: Callable[[str], HubConfig]) -> None:
    sla = parse_section(POLICY).sla
    assert sla is not None
    assert (sla.calendar, sla.start, sla.warn_at, sla.breach_label) == (
        "support",
        "assigned",
        0.8,
        "sla-breached",
    )
    assert sla.pauses_in("waiting for customer") and sla.pauses_in("101")
    assert not sla.pauses_in("In Progress") and not sla.pauses_in(None)


def test_without_pause_statuses_nothing_pauses_and_without_a_fitting_target_there_is_no_sla(
    parse_section: Callable[[str], HubConfig],
) -> None:
    sla = parse_section("sla:\n  targets: [{priority: Highest, resolution: 4h}]\n").sla
    assert sla is not None
    assert sla.calendar == "default"
    assert not sla.pauses_in("Waiting for customer")
    assert sla.target_for("Low", "SUP") is None


def test_no_sla_section_means_no_sla(parse_section: Callable[[str], HubConfig]) -> None:
    assert parse_section("").sla is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "sla:\n  calendar: support\n  targets: [{resolution: 1h}]\n",
            "hub.yaml: sla: calendar: unknown calendar 'support'; the calendars are default",
        ),
        (
            "sla:\n  targets: [{resolution: 1 hour}]\n",
            "hub.yaml: sla.targets.0.resolution: '1 hour' is not a business duration",
        ),
        ("sla:\n  targets: [{resolution: 30}]\n", "sla.targets.0.resolution: 30 has no unit"),
        (
            "sla:\n  targets: [{priority: High}]\n",
            "sla.targets.0: a target needs first_response, resolution or both",
        ),
        ("sla:\n  targets: [{resolution: 0m}]\n", "sla.targets.0: resolution cannot be zero"),
        ("sla:\n  targets: []\n", "sla.targets: Tuple should have at least 1 item"),
        ("sla:\n  warn_at: 1.5\n  targets: [{resolution: 1h}]\n", "sla.warn_at: Input should be less than 1"),
        (
            "sla:\n  start: resolved\n  targets: [{resolution: 1h}]\n",
            "sla.start: Input should be 'created' or 'assigned'",
        ),
        ("sla:\n  breach_label: sla breached\n  targets: [{resolution: 1h}]\n", "sla.breach_label"),
    ],
)
def test_errors_name_the_file_and_the_field(
    body: str, expected: str, section_error: Callable[[str], str]
) -> None:
    assert expected in section_error(body)


def test_a_failing_target_is_reported_once(section_error: Callable[[str], str]) -> None:
    assert section_error("sla:\n  targets: [{resolution: 1 hour}]\n").count("\n") == 0


def test_a_broken_calendar_is_reported_there_not_again_under_sla(section_error: Callable[[str], str]) -> None:
    message = section_error(
        "calendars:\n  support: {timezone: Nowhere/Land}\nsla:\n  calendar: support\n  targets: [{resolution: 1h}]\n"
    )
    assert "calendars.support: timezone" in message
    assert "sla" not in message


def test_the_shipped_sla_section() -> None:
    sla = load_config(Settings()).sla
    assert sla is not None
    assert sla.calendar == "default" and sla.start == "created" and sla.warn_at == 0.8
    assert sla.pauses_in("Waiting for customer")
    highest = sla.target_for("Highest", "SUP")
    assert highest is not None and highest.first_response == BusinessDuration(minutes=60)
    rest = sla.target_for("Medium", "SUP")
    assert rest is not None and rest.resolution == BusinessDuration(days=5)
