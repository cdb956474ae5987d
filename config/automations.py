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

import difflib
import re
from datetime import date
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.base import Strict
from config.calendars import ZoneName
from config.durations import BusinessDuration, Duration, parse_duration
from config.routes import CANNED_KEY, FieldRule, Notify, as_texts, check_template
from config.targets import NAME, JiraTarget, Scope, TargetRef

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


def _scope(info: ValidationInfo) -> Scope:
    return info.context if isinstance(info.context, Scope) else Scope()


def _check_canned(key: str | None, info: ValidationInfo) -> None:
    known = _scope(info).canned_keys
    if key is None or known is None or key in known:
        return
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]}?" if close else f"there are {', '.join(sorted(known)) or '(none)'}"
    raise ValueError(f"no canned response {key!r} in the canned/ folder beside the rule file; {hint}")


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
    calendars = _scope(info).calendars
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
    inside) at the moment the rule is evaluated; ``jql`` / ``kaiten_filter`` are ANDed into the scan's
    search as they are (the ``GET /cards`` parameters for Kaiten).
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


class CommentAction(Strict):
    """A comment from a canned response (``canned``) or a template (``text``); internal unless
    ``to_customer``. ``on: linked`` writes it on the issues linked to the triggering one instead."""

    canned: str | None = Field(default=None, pattern=CANNED_KEY)
    text: str | None = Field(default=None, min_length=1)
    to_customer: bool = False

    @field_validator("canned")
    @classmethod
    def _canned_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        _check_canned(value, info)
        return value

    @field_validator("text")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return value if value is None else check_template(value)

    @model_validator(mode="after")
    def _one_text(self) -> CommentAction:
        if (self.canned is None) == (self.text is None):
            raise ValueError("give exactly one of canned and text")
        return self


class NotifyAction(Notify):
    """A message to a Telegram chat and/or e-mail with the issue's link and key ``fields``; ``text``
    is a template over the issue; ``assignee`` also tells the issue's assignee. Empty chat and e-mail
    (``${TELEGRAM_TEAM_CHAT_ID:-}`` unset) with no assignee: the action does nothing."""

    text: str | None = Field(default=None, min_length=1)
    fields: Texts = ("status", "priority", "assignee")
    assignee: bool = False

    @field_validator("text")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return value if value is None else check_template(value)


class TransitionAction(Strict):
    """Jira: a transition's name or id, or the status to reach; Kaiten: a column's id or title."""

    to: str = Field(min_length=1)
    resolution: str | None = Field(default=None, min_length=1)


def _to_mapping(value: Any) -> Any:
    return {"to": str(value)} if isinstance(value, str | int) and not isinstance(value, bool) else value


class Absence(Strict):
    """A user away from ``from`` to ``to`` (both days included)."""

    user: UserId
    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _in_order(self) -> Absence:
        if self.to < self.from_:
            raise ValueError("to is before from")
        return self

    def covers(self, day: date) -> bool:
        """Whether the user is away on ``day``."""
        return self.from_ <= day <= self.to


class AssignAction(Strict):
    """Exactly one of: ``user`` (fixed), ``round_robin`` (in turn through the list), ``least_open``
    (whoever of the list has the fewest open issues, skipping those ``absences`` name for today)."""

    user: UserId | None = None
    round_robin: Texts = ()
    least_open: Texts = ()
    absences: tuple[Absence, ...] = ()

    @model_validator(mode="after")
    def _one_way(self) -> AssignAction:
        given = [name for name in ("user", "round_robin", "least_open") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of user, round_robin and least_open (a non-empty list)")
        if self.absences and not self.least_open:
            raise ValueError("absences go with least_open")
        return self

    def available(self, day: date) -> tuple[str, ...]:
        """The ``least_open`` users not away on ``day``."""
        away = {a.user for a in self.absences if a.covers(day)}
        return tuple(user for user in self.least_open if user not in away)


class SetAction(Strict):
    """Set a ``field`` (id or name) to ``value``, and/or add ``labels`` (``tags``) and remove
    ``remove_labels``."""

    field: str | None = Field(default=None, min_length=1)
    value: Any = None
    labels: Texts = ()
    tags: Texts = ()
    remove_labels: Texts = ()

    @model_validator(mode="after")
    def _something(self) -> SetAction:
        if self.field is None and "value" in self.model_fields_set:
            raise ValueError("value goes with field")
        if self.field is None and not (self.labels or self.tags or self.remove_labels):
            raise ValueError("give field and value, labels (tags) or remove_labels")
        bad = [label for label in (*self.labels, *self.tags) if any(ch.isspace() for ch in label)]
        if bad:
            raise ValueError(f"labels cannot contain spaces: {bad}")
        return self

    @property
    def added(self) -> tuple[str, ...]:
        """Labels and tags to add."""
        return tuple(dict.fromkeys((*self.labels, *self.tags)))


class CreateAction(Strict):
    """A new issue or card in ``target`` (the rule's when left out), titled by the ``title`` template,
    with ``fields`` filled as a route fills them, ``carry`` copied from the source, and linked to it
    (``link``: true, or a link type's name)."""

    target: TargetRef | None = None
    title: str = Field(min_length=1)
    body: str | None = None
    fields: dict[str, FieldRule] = Field(default_factory=dict)
    carry: Annotated[tuple[Literal[CARRY], ...], BeforeValidator(as_texts)] = ()  # type: ignore[valid-type]
    link: bool | str = True

    @field_validator("title", "body")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return value if value is None else check_template(value)


class ChecklistTemplate(Strict):
    """A checklist's name and items."""

    name: str = Field(min_length=1, max_length=200)
    items: Texts = Field(min_length=1)


class ChecklistAction(Strict):
    """Add a checklist (Kaiten) or sub-tasks (Jira): ``name`` and ``items``, or ``stages``: a template
    per status / column, the one the issue has just entered (the stage checklist)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    items: Texts = ()
    stages: dict[str, ChecklistTemplate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way(self) -> ChecklistAction:
        inline = self.name is not None or bool(self.items)
        if inline == bool(self.stages):
            raise ValueError("give name and items, or stages (a checklist per status), not both")
        if inline and not (self.name and self.items):
            raise ValueError("a checklist needs a name and items")
        return self

    def for_status(self, status: str) -> ChecklistTemplate | None:
        """The checklist to add for an issue now in ``status`` (any case); the inline one always."""
        if self.name is not None:
            return ChecklistTemplate(name=self.name, items=self.items)
        wanted = status.casefold()
        return next((t for s, t in self.stages.items() if s.casefold() == wanted), None)


class ChecklistChildrenAction(Strict):
    """Each unchecked item of the checklist ``checklist`` (all checklists when left out) becomes a
    child card (Jira: a sub-task) titled by the item, carrying ``carry`` from the parent."""

    checklist: str | None = Field(default=None, min_length=1)
    target: TargetRef | None = None
    carry: Annotated[tuple[Literal[CARRY], ...], BeforeValidator(as_texts)] = ("tags", "links")  # type: ignore[valid-type]
    check_items: bool = True


class ResolveAction(Strict):
    """Close the issue: Jira's first transition into a done status (or ``transition``) with
    ``resolution``; Kaiten's first done column of the board."""

    transition: str | None = Field(default=None, min_length=1)
    resolution: str | None = Field(default=None, min_length=1)


class DigestAction(Notify):
    """One message listing every issue the scan found (key, title, link, priority), the ``critical``
    priorities marked and listed first; nothing is sent when none was found."""

    title: str = Field(default="Issues without an assignee", min_length=1, max_length=200)
    critical: Texts = ()


class Action(Strict):
    """One action: exactly one of :data:`ACTION_KINDS`. ``only`` (with an ``sla`` trigger) limits it
    to some SLA states."""

    comment: CommentAction | None = None
    notify: NotifyAction | None = None
    transition: Annotated[TransitionAction, BeforeValidator(_to_mapping)] | None = None
    move: Annotated[TransitionAction, BeforeValidator(_to_mapping)] | None = None
    assign: AssignAction | None = None
    set: SetAction | None = None
    create: CreateAction | None = None
    checklist: ChecklistAction | None = None
    checklist_children: ChecklistChildrenAction | None = None
    route: str | None = Field(default=None, min_length=1)
    resolve: ResolveAction | None = None
    digest: DigestAction | None = None
    only: Annotated[tuple[Literal["warning", "breached"], ...], BeforeValidator(as_texts)] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_true(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("resolve", False) in (True, None) and "resolve" in data:
            return {**data, "resolve": {}}
        return data

    @field_validator("route")
    @classmethod
    def _known_route(cls, value: str | None, info: ValidationInfo) -> str | None:
        routes = _scope(info).routes
        if value is not None and routes is not None and value not in routes:
            raise ValueError(
                f"unknown route {value!r}; the routes are {', '.join(sorted(routes)) or '(none)'}"
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        given = [kind for kind in ACTION_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            got = f"; got {', '.join(given)}" if given else ""
            raise ValueError(f"give exactly one action: {', '.join(ACTION_KINDS)}{got}")
        return self

    @property
    def kind(self) -> str:
        """Which of :data:`ACTION_KINDS` this is (``move`` reads as ``transition``)."""
        kind = next(kind for kind in ACTION_KINDS if getattr(self, kind) is not None)
        return "transition" if kind == "move" else kind

    @property
    def spec(self) -> Any:
        """The action's own settings (the model under its key)."""
        return next(getattr(self, kind) for kind in ACTION_KINDS if getattr(self, kind) is not None)


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
