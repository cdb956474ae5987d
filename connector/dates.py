"""Dates as trackers send them: Jira's ``2024-01-15T10:00:00.000+0000`` and ``2024-01-31``, Kaiten's
``2024-10-14T10:48:16.594Z``. Something unreadable is None, never an error: a state read must not fail
over a date the hub only reports."""

from __future__ import annotations

from datetime import date, datetime


def parse_datetime(value: object) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or a ``+hhmm`` offset), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    """The calendar date of an ISO 8601 date or timestamp (as written, not converted), or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
