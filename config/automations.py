"""Automation rules (``automations:`` of the rule file): a trigger, conditions, and actions.

```yaml
automations:
  - name: quiet-customer
    trigger: {no_customer_reply: 2d, calendar: default}       # 2 business days
    when: {statuses: ["Waiting for customer"]}
    actions:
      - {comment: {canned: still-need-help, to_customer: true}}
    followup:                                                 # 3 business days later still quiet
      after: 3d
      actions: [{comment: {canned: closed-no-reply, to_customer: true}}, {resolve: {}}]
```

A rule looks at issues of its ``target`` (a name in ``targets:`` or an inline target; ``{tracker:
default}``, the environment's, when left out): that tracker, and that project or board unless
``when.projects`` names others. Its **trigger** is exactly one of:

- ``cron: "0 10 * * 1-5"`` or ``every: 30m`` (hours/minutes of wall-clock time): a schedule, in the
  ``timezone`` given or else the calendar's; with a ``calendar`` named, a cron due time on a day off of
  it, or an ``every`` due time outside its working hours, is skipped (``mappers.schedules``). After
  downtime only the latest due time fires.
- ``event:`` ``created``, ``commented`` (``text_contains``, ``author: customer|team|any``),
  ``transitioned`` / ``moved`` (``to``: statuses or columns entered), ``assigned``, ``field_changed``
  (``field``), ``linked_resolved`` (an issue linked to this one reached a done status;
  ``linked_projects`` narrows where from).
- ``in_status_longer: 20d``: in its current status (column) for that much business time.
- ``before_date: 30`` / ``after_date: 0``: that many calendar days before / after the date in
  ``field`` (an id or a name; "Contract end" by default).
- ``no_customer_reply: 2d``: no customer message for that much business time.
- ``sla: [warning, breached]``: the issue's SLA clock (``sla:``) reached its warning share or broke.

Business durations (``30m``, ``4h``, ``2d``) count on ``calendar`` (``default`` when left out).
**Conditions** (``when``, all must hold) are in :class:`AutomationWhen`; **actions** in :class:`Action`,
exactly one kind per entry, run in order. ``followup`` (time triggers only) runs more actions when the
time condition has held ``after`` longer. The engine (``jobs``) fires each rule once per issue and
occurrence (``mappers.automation_match``); this module only describes and validates.

Validation checks what can be checked without the tracker: calendars, canned responses (files in
``canned/`` beside the rule file), targets, routes and cron expressions exist and parse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.automation_actions import Action
from config.automation_values import (
    DEFAULT_DATE_FIELD,
    EVENTS,
    MAX_ACTIONS,
    SCHEDULE_KINDS,
    TIME_KINDS,
    TRIGGER_KINDS,
    Days,
    Minutes,
    Texts,
    scope_of,
)
from config.base import Strict
from config.calendars import ZoneName
from config.durations import BusinessDuration, Duration
from config.routes import as_texts
from config.targets import NAME, JiraTarget, TargetRef


class Trigger(Strict):
    """What makes a rule fire: exactly one of :data:`TRIGGER_KINDS`, with its options."""

    cron: str | None = None
    every: Minutes | None = None
    event: Literal[EVENTS] | None = None  # type: ignore[valid-type]
    in_status_longer: Duration | None = None
    before_date: Days | None = None
    after_date: Days | None = None
    no_customer_reply: Duration | None = None
    sla: Annotated[tuple[Literal["warning", "breached"], ...], BeforeValidator(as_texts)] | None = None
    calendar: str | None = Field(default=None, min_length=1)
    timezone: ZoneName | None = None
    text_contains: Texts = ()
    author: Literal["any", "customer", "team"] = "any"
    to: Texts = ()
    field: str | None = Field(default=None, min_length=1)
    linked_projects: Texts = ()

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday)")
        if value is not None and len(value.split()) != 5:
            raise ValueError(f"{value!r}: write the five fields minute hour day month weekday")
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _known_calendar_name(value, info)

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        given = [kind for kind in TRIGGER_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            got = f"; got {', '.join(given)}" if given else ""
            raise ValueError(f"give exactly one of {', '.join(TRIGGER_KINDS)}{got}")
        kind = given[0]
        if self.text_contains and self.event != "commented":
            raise ValueError("text_contains goes with event: commented")
        if self.author != "any" and self.event != "commented":
            raise ValueError("author goes with event: commented")
        if self.to and self.event not in ("transitioned", "moved"):
            raise ValueError("to goes with event: transitioned (or moved)")
        if self.linked_projects and self.event != "linked_resolved":
            raise ValueError("linked_projects goes with event: linked_resolved")
        if (
            self.field is not None
            and kind not in ("before_date", "after_date")
            and self.event != "field_changed"
        ):
            raise ValueError("field goes with before_date, after_date or event: field_changed")
        if self.event == "field_changed" and self.field is None:
            raise ValueError("event: field_changed needs the field (an id or a name)")
        if self.timezone is not None and kind not in SCHEDULE_KINDS:
            raise ValueError("timezone goes with cron or every; other triggers use the calendar's")
        if self.sla == ():
            raise ValueError("sla: name warning, breached or both")
        return self

    @property
    def kind(self) -> str:
        """Which of :data:`TRIGGER_KINDS` this is."""
        return next(kind for kind in TRIGGER_KINDS if getattr(self, kind) is not None)

    @property
    def date_field(self) -> str:
        """The date field of ``before_date`` / ``after_date``: ``field``, or "Contract end"."""
        return self.field or DEFAULT_DATE_FIELD

    @property
    def duration(self) -> BusinessDuration | None:
        """The business duration of ``in_status_longer`` / ``no_customer_reply``; None otherwise."""
        return self.in_status_longer or self.no_customer_reply


def _known_calendar_name(value: str | None, info: ValidationInfo) -> str | None:
    calendars = scope_of(info).calendars
    if value is not None and calendars is not None and value not in calendars:
        raise ValueError(f"unknown calendar {value!r}; the calendars are {', '.join(sorted(calendars))}")
    return value


class AutomationWhen(Strict):
    """Conditions, all of which must hold; an empty list holds for any value.

    ``projects`` (``boards`` for Kaiten: the same list) replaces the target's container; ``types`` are
    Jira issue type names or Kaiten card type ids; ``labels`` (``tags``) needs any of them;
    ``statuses`` are Jira statuses or Kaiten columns (names or ids); ``fields`` maps a field (id or
    name) to a value or a list of accepted values (``null``: empty); ``older_than`` a business duration
    since creation; ``outside_hours`` the calendar's working time (true: only outside it, false: only
    inside) when the rule is evaluated, or for a ``created`` rule when the issue was created; ``jql`` /
    ``kaiten_filter`` are ANDed into the scan's search as they are (the ``GET /cards`` parameters for
    Kaiten).
    """

    projects: Texts = ()
    boards: Texts = ()
    types: Texts = ()
    priorities: Texts = ()
    labels: Texts = ()
    tags: Texts = ()
    assignee_empty: bool | None = None
    statuses: Texts = ()
    not_done: bool = False
    fields: dict[str, Any] = Field(default_factory=dict)
    older_than: Duration | None = None
    outside_hours: bool | None = None
    jql: str | None = Field(default=None, min_length=1, max_length=5000)
    kaiten_filter: dict[str, str | int | bool | list[str | int]] | None = None

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(not str(name).strip() for name in value):
            raise ValueError("a field is named by its id or its name, not by an empty text")
        return value

    @property
    def containers(self) -> tuple[str, ...]:
        """Projects and boards together."""
        return tuple(dict.fromkeys((*self.projects, *self.boards)))

    @property
    def all_labels(self) -> tuple[str, ...]:
        """Labels and tags together."""
        return tuple(dict.fromkeys((*self.labels, *self.tags)))


class Followup(Strict):
    """More actions when a time trigger's condition has held ``after`` longer."""

    after: Duration
    actions: tuple[Action, ...] = Field(min_length=1, max_length=MAX_ACTIONS)


def _default_target(value: Any) -> Any:
    return {"tracker": "default"} if value is None else value


class Automation(Strict):
    """One rule of ``automations:``."""

    name: str = Field(pattern=NAME)
    description: str = ""
    enabled: bool = True
    target: Annotated[TargetRef, BeforeValidator(_default_target)] = Field(
        default=None, validate_default=True
    )
    trigger: Trigger
    when: AutomationWhen = Field(default_factory=AutomationWhen)
    actions: tuple[Action, ...] = Field(min_length=1, max_length=MAX_ACTIONS)
    followup: Followup | None = None

    @model_validator(mode="after")
    def _fits_together(self) -> Automation:
        kind = self.trigger.kind
        if self.followup is not None and kind not in TIME_KINDS:
            raise ValueError(f"followup goes with a time trigger ({', '.join(TIME_KINDS)}), not {kind}")
        kinds = [a.kind for a in self.actions]
        if any(a.only for a in self.actions) and kind != "sla":
            raise ValueError("only (SLA states) goes with trigger sla")
        if "digest" in kinds and kind not in SCHEDULE_KINDS:
            raise ValueError("digest lists what a scheduled scan finds: use it with cron or every")
        if kind in SCHEDULE_KINDS and set(kinds) - {"digest", "notify"} and "digest" in kinds:
            raise ValueError("a digest rule sends the digest (and notices), nothing per issue")
        if self.target.kind == "jira" and self.when.kaiten_filter is not None:
            raise ValueError("when.kaiten_filter is for a Kaiten target; a Jira rule uses when.jql")
        if self.target.kind == "kaiten" and self.when.jql is not None:
            raise ValueError("when.jql is for a Jira target; a Kaiten rule uses when.kaiten_filter")
        return self

    @property
    def calendar(self) -> str:
        """The calendar business durations count on."""
        return self.trigger.calendar or "default"

    @property
    def containers(self) -> tuple[str, ...]:
        """The projects or boards the rule looks at: ``when``'s, else the target's."""
        if self.when.containers:
            return self.when.containers
        target = self.target
        return (str(target.project if isinstance(target, JiraTarget) else target.board),)


def check_automations(value: tuple[Automation, ...], info: ValidationInfo) -> tuple[Automation, ...]:
    """Names are unique; an ``sla`` trigger needs the ``sla:`` section (validated before this one)."""
    names = [rule.name for rule in value]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"automation names must be unique: {twice}")
    uses_sla = [rule.name for rule in value if rule.trigger.kind == "sla"]
    if uses_sla and info.data.get("sla") is None:
        raise ValueError(f"{uses_sla} have trigger sla, which needs the sla: section")
    return value
