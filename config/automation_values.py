"""The value types and checks the ``automations:`` models share: kinds, limits, day counts, intervals,
user ids, and the canned-response check against the rule file's folder."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
)

from config.durations import parse_duration
from config.routes import as_texts
from config.targets import Scope

DEFAULT_DATE_FIELD = "Contract end"
MAX_ACTIONS = 20
MAX_DAYS = 3660
TRIGGER_KINDS = (
    "cron",
    "every",
    "event",
    "in_status_longer",
    "before_date",
    "after_date",
    "no_customer_reply",
    "sla",
)
TIME_KINDS = ("in_status_longer", "before_date", "after_date", "no_customer_reply")
SCHEDULE_KINDS = ("cron", "every")
EVENTS = ("created", "commented", "transitioned", "moved", "assigned", "field_changed", "linked_resolved")
ACTION_KINDS = (
    "comment",
    "notify",
    "transition",
    "move",
    "assign",
    "set",
    "create",
    "checklist",
    "checklist_children",
    "route",
    "resolve",
    "digest",
)
CARRY = ("tags", "labels", "links", "responsible", "assignee", "description", "priority", "members")


Texts = Annotated[tuple[str, ...], BeforeValidator(as_texts)]
"""One text or a list of them; numbers (ids) become texts; blanks (an unset ``${VAR:-}``) drop out."""


def _user_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


UserId = Annotated[str, BeforeValidator(_user_text), Field(min_length=1)]
"""A user as the tracker assigns by: a Jira user name or account id, a Kaiten user id (a number)."""


def _days(value: Any) -> Any:
    """``30``, ``"30"`` or ``"30d"`` → 30 calendar days."""
    if isinstance(value, bool):
        raise ValueError("write a number of days, like 30 or 30d")
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*d?\s*", value)
        if match is None:
            raise ValueError(f"{value!r} is not a number of days, like 30 or 30d")
        return int(match.group(1))
    return value


Days = Annotated[int, BeforeValidator(_days), Field(ge=0, le=MAX_DAYS)]
"""Whole calendar days: ``30`` or ``30d``."""


def _interval(value: Any) -> Any:
    """``every``: a business duration's text read as wall-clock time (``d`` = 24 hours)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit: write 15m, 2h or 1d")
    if isinstance(value, str):
        parsed = parse_duration(value)
        return parsed.days * 24 * 60 + parsed.minutes
    return value


Minutes = Annotated[int, BeforeValidator(_interval), Field(ge=1, le=MAX_DAYS * 24 * 60)]
"""An interval of wall-clock time, as minutes (``every: 15m``)."""


def scope_of(info: ValidationInfo) -> Scope:
    return info.context if isinstance(info.context, Scope) else Scope()
