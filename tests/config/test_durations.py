"""Business durations as the rule file writes them (30m, 4h, 2d): parsed, printed back, refused with help."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.durations import HELP, MAX_DAYS, BusinessDuration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", BusinessDuration(minutes=30)),
        ("4h", BusinessDuration(minutes=240)),
        ("2d", BusinessDuration(days=2)),
        ("1h30m", BusinessDuration(minutes=90)),
        ("1d 4h", BusinessDuration(days=1, minutes=240)),
        (" 2D ", BusinessDuration(days=2)),
        ("90m", BusinessDuration(minutes=90)),
        ("0m", BusinessDuration()),
    ],
)
def test_durations_parse(text: str, expected: BusinessDuration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4", "4 hours", "h", "1.5h", "-2h", "2w", "4h and 5m", "1e3m"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert HELP in str(caught.value)


def test_absurdly_long_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than"):
        parse_duration(f"{MAX_DAYS + 1}d")
    with pytest.raises(ValueError, match="longer than"):
        parse_duration(f"{MAX_DAYS * 24 + 1}h")


def test_a_day_is_counted_as_the_working_day_given() -> None:
    assert parse_duration("2d").working_time(timedelta(hours=9)) == timedelta(hours=18)
    assert parse_duration("1d30m").working_time(timedelta(hours=8)) == timedelta(hours=8, minutes=30)


@given(st.integers(0, MAX_DAYS), st.integers(0, 24 * 60 * 30))
def test_a_duration_prints_as_it_parses(days: int, minutes: int) -> None:
    duration = BusinessDuration(days=days, minutes=minutes)
    assert parse_duration(str(duration)) == duration


@given(st.text(max_size=20))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        duration = parse_duration(text)
    except ValueError:
        return
    assert duration.days >= 0 and duration.minutes >= 0
