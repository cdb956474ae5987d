"""Business durations as the rule file writes them: ``30m``, ``4h``, ``2d``, ``1h30m``, ``1d 4h``.

``m`` is minutes and ``h`` hours of working time; ``d`` is business days. What a business day adds
depends on where it is used, so a :class:`BusinessDuration` keeps days and minutes apart:
``mappers.calendar.add_duration`` moves to the same time of day on the N-th next working day (a
trigger's "2 business days without a reply"), and an SLA target counts a day as the calendar's
standard working day of working time (``BusinessCalendar.day_length``), so its clock can be measured,
paused and compared minute by minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

MAX_DAYS = 3660  # ten years of business days: more is a typo
_PART = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)
_WHOLE = re.compile(r"\s*(?:\d+\s*[dhm]\s*)+", re.IGNORECASE)
HELP = "write a number and a unit: m (minutes), h (hours) or d (business days), e.g. 30m, 4h, 2d, 1h30m"


@dataclass(frozen=True, order=True)
class BusinessDuration:
    """``days`` business days and ``minutes`` minutes of working time (an ``hours`` part is minutes)."""

    days: int = 0
    minutes: int = 0

    def __post_init__(self) -> None:
        if self.days < 0 or self.minutes < 0:
            raise ValueError("a business duration cannot be negative")

    @property
    def is_zero(self) -> bool:
        """True for ``0m``."""
        return not (self.days or self.minutes)

    def working_time(self, day_length: timedelta) -> timedelta:
        """The duration as working time, a business day counted as ``day_length``."""
        return self.days * day_length + timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        hours, minutes = divmod(self.minutes, 60)
        parts = [f"{n}{unit}" for n, unit in ((self.days, "d"), (hours, "h"), (minutes, "m")) if n]
        return "".join(parts) or "0m"


def parse_duration(text: str) -> BusinessDuration:
    """``"1h30m"`` → ``BusinessDuration(minutes=90)``; ValueError saying how to write one otherwise."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a business duration: {HELP}")
    totals = {"d": 0, "h": 0, "m": 0}
    for number, unit in _PART.findall(text):
        totals[unit.lower()] += int(number)
    if totals["d"] > MAX_DAYS or totals["h"] * 60 + totals["m"] > MAX_DAYS * 24 * 60:
        raise ValueError(f"{text!r} is longer than {MAX_DAYS} business days")
    return BusinessDuration(days=totals["d"], minutes=totals["h"] * 60 + totals["m"])


def _validate(value: Any) -> BusinessDuration:
    if isinstance(value, BusinessDuration):
        return value
    if isinstance(value, int | float):  # bool too
        raise ValueError(f"{value!r} has no unit: {HELP}")
    return parse_duration(value)


Duration = Annotated[BusinessDuration, PlainValidator(_validate), PlainSerializer(str)]
"""A rule-file field holding a business duration (``30m``, ``4h``, ``2d``)."""
