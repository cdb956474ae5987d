"""The ``sla:`` section of the rule file: response and resolution targets on a business calendar.

```yaml
sla:
  calendar: support                         # a calendar of `calendars:`; `default` when left out
  start: created                            # created | assigned (the first assignment)
  pause_statuses: ["Waiting for customer"]  # Jira status names; Kaiten column names or ids
  warn_at: 0.8                              # share of the target at which the team is warned
  breach_label: sla-breached                # Jira label / Kaiten tag put on a breached issue
  targets:                                  # the first that fits an issue applies
    - {priority: Highest, first_response: 1h, resolution: 8h}
    - {priority: [High, Major], projects: [SUP], first_response: 4h, resolution: 2d}
    - {first_response: 8h, resolution: 5d}  # the rest
```

Targets are business durations (``config.durations``); a day of a target is the calendar's standard
working day of working time. ``mappers.sla`` computes the clocks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, model_validator

from config.base import Strict
from config.calendars import DEFAULT_NAME
from config.durations import BusinessDuration, Duration


def _texts(value: Any) -> Any:
    """One value or a list, as a tuple of texts (Kaiten board and column ids may be numbers)."""
    items = value if isinstance(value, list | tuple) else (value,)
    return tuple(str(item) if type(item) is int else item for item in items)


TextList = Annotated[tuple[str, ...], BeforeValidator(_texts)]
"""One text or a list of them; numbers (ids) become texts."""


class SlaTarget(Strict):
    """Targets for issues of some priorities (all when none given) in some projects or boards."""

    priority: TextList = ()
    projects: TextList = ()
    first_response: Duration | None = None
    resolution: Duration | None = None

    @model_validator(mode="after")
    def _has_a_target(self) -> SlaTarget:
        if self.first_response is None and self.resolution is None:
            raise ValueError("a target needs first_response, resolution or both")
        for name in ("first_response", "resolution"):
            value: BusinessDuration | None = getattr(self, name)
            if value is not None and value.is_zero:
                raise ValueError(f"{name} cannot be zero")
        return self

    def applies(self, priority: str | None, project: str | None) -> bool:
        """Whether the target covers an issue of that priority (any case) in that project or board."""
        return _among(self.priority, priority) and _among(self.projects, project)


def _among(wanted: tuple[str, ...], value: str | None) -> bool:
    return not wanted or (value is not None and value.casefold() in {w.casefold() for w in wanted})


class SlaPolicy(Strict):
    """The whole ``sla:`` section."""

    calendar: str = DEFAULT_NAME
    start: Literal["created", "assigned"] = "created"
    pause_statuses: TextList = ()
    warn_at: float = Field(default=0.8, gt=0, lt=1)
    breach_label: str = Field(default="sla-breached", pattern=r"^\S{1,100}$")
    targets: tuple[SlaTarget, ...] = Field(min_length=1)

    def target_for(self, priority: str | None, project: str | None) -> SlaTarget | None:
        """The first target covering an issue of that priority in that project; None when none does."""
        return next((t for t in self.targets if t.applies(priority, project)), None)

    def pauses_in(self, status: str | None) -> bool:
        """Whether the clocks stand still while an issue is in ``status`` (compared in any case)."""
        return bool(self.pause_statuses) and _among(self.pause_statuses, status)


def known_calendar(value: SlaPolicy | None, info: ValidationInfo) -> SlaPolicy | None:
    """The section, once its calendar is one of ``calendars:`` (validated before it in the file)."""
    calendars = info.data.get("calendars")
    if value is not None and calendars is not None and value.calendar not in calendars:
        raise ValueError(
            f"calendar: unknown calendar {value.calendar!r}; the calendars are {', '.join(sorted(calendars))}"
        )
    return value


SlaSection = Annotated[SlaPolicy | None, AfterValidator(known_calendar)]
"""The ``sla:`` section of :class:`~config.rules.HubConfig`; declared after ``calendars``."""
