"""The actions of an automation rule (``actions:`` of ``automations:``): exactly one kind per entry, run
in order by the engine (``jobs/automations``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.automation_values import (
    ACTION_KINDS,
    CARRY,
    Texts,
    UserId,
    scope_of,
)
from config.base import Strict
from config.canned import CANNED_KEY, check_canned
from config.routes import FieldRule, Notify, as_texts, check_template
from config.targets import TargetRef


class CommentAction(Strict):
    """A comment from a canned response (``canned``) or a template (``text``); internal unless
    ``to_customer``. ``on: linked`` writes it on the issues linked to the triggering one instead."""

    canned: str | None = Field(default=None, pattern=CANNED_KEY)
    text: str | None = Field(default=None, min_length=1)
    to_customer: bool = False

    @field_validator("canned")
    @classmethod
    def _canned_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        check_canned(value, info)
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
        routes = scope_of(info).routes
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
