"""The ``reports:`` section of the rule file: the weekly report, its schedule and where it is posted.

```yaml
reports:
  weekly:
    cron: "0 9 * * 1"                        # Monday 09:00 in the calendar's time zone (the default)
    calendar: default                        # the team's zone, and the hours durations are counted in
    business_hours: true                     # false: first response and resolution in wall-clock hours
    trackers: [jira]                         # whose issues it counts (default: the environment's tracker)
    telegram_chat: "${TELEGRAM_TEAM_CHAT_ID:-}"
    email: "${HUB_TEAM_EMAIL:-}"
```

No chat and no address: the report is still computed on schedule (its ``/metrics`` gauges), and posted
nowhere. ``trackerhub report weekly`` prints it whatever this says.
"""

from __future__ import annotations

from typing import Annotated

from croniter import croniter
from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from config.base import Strict
from config.calendars import DEFAULT_NAME
from config.routes import Recipients
from config.targets import ENV_TRACKERS

WEEKLY_CRON = "0 9 * * 1"


class WeeklyReport(Recipients):
    """The weekly report: when it is posted (a cron expression in the calendar's zone), on which
    calendar durations are counted, which trackers it counts, and the team's chat and mailbox."""

    enabled: bool = True
    cron: str = WEEKLY_CRON
    calendar: str = DEFAULT_NAME
    business_hours: bool = True
    trackers: tuple[str, ...] = ()

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (five fields, e.g. {WEEKLY_CRON!r})")
        return value


class Reports(Strict):
    """The reports the hub posts on schedule."""

    weekly: WeeklyReport = Field(default_factory=WeeklyReport)


def known_names(value: Reports, info: ValidationInfo) -> Reports:
    """The section, once its calendar is one of ``calendars:`` and its trackers are known."""
    weekly = value.weekly
    calendars = info.data.get("calendars")
    if calendars is not None and weekly.calendar not in calendars:
        known = ", ".join(sorted(calendars))
        raise ValueError(f"weekly.calendar: unknown calendar {weekly.calendar!r}; the calendars are {known}")
    trackers = [*ENV_TRACKERS, *(info.data.get("trackers") or {})]
    unknown = [name for name in weekly.trackers if name not in trackers]
    if unknown:
        raise ValueError(
            f"weekly.trackers: unknown trackers {unknown}; the trackers are {', '.join(trackers)}"
        )
    return value


ReportsSection = Annotated[Reports, AfterValidator(known_names)]
"""The ``reports:`` section of :class:`~config.rules.HubConfig`; declared after ``calendars``."""
