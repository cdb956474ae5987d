"""Tracker-neutral types the connectors take and return (DESIGN.md, "Core types").

Each names things the way both trackers can fill: a Jira project and a Kaiten board are a target's
``container``; a Jira issue type (name or id) and a Kaiten card type (id) its ``issue_type``; Jira's
status categories (``new``, ``indeterminate``, ``done``) stand for Kaiten's column types too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# Jira's status category keys; Kaiten's column types 1 (queue), 2 (in progress), 3 (done) map onto them.
NEW, IN_PROGRESS, DONE = "new", "indeterminate", "done"
STATUS_CATEGORIES = (NEW, IN_PROGRESS, DONE)

# The changed fields (a tracker event's ``fields_changed``) that mean an assignment: Jira's changelog
# ``assignee`` (by id and by name), Kaiten's responsible.
ASSIGNEE_FIELDS = frozenset({"assignee", "responsible", "responsible_id"})

# The neutral field types a FieldSpec may have; "any" for what fits none of them.
FIELD_TYPES = frozenset(
    {
        "string",
        "text",
        "number",
        "date",
        "datetime",
        "option",
        "options",
        "user",
        "users",
        "labels",
        "priority",
        "component",
        "version",
        "any",
    }
)


@dataclass(frozen=True)
class Target:
    """Where an issue goes: a tracker instance, and a Jira project or a Kaiten board (as text).

    ``issue_type`` is a Jira issue type's name or id, or a Kaiten card type id; ``column`` and ``lane``
    are Kaiten's (ids as text).
    """

    tracker: str  # the instance name ("jira", "kaiten", or a name from the rule file)
    container: str
    issue_type: str | None = None
    column: str | None = None
    lane: str | None = None


@dataclass(frozen=True)
class FileUpload:
    """A file to attach to an issue."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class IssueDraft:
    """Everything needed to create one issue; built by the mappers, sent by a connector.

    ``idempotency_key`` is stored on the issue (a Jira label, a Kaiten external id) so a retried
    create can find what an earlier attempt made. ``parent`` is a Jira sub-task's parent issue key or a
    Kaiten parent card id.
    """

    target: Target
    title: str
    body: str  # already in the tracker's markup, customer text escaped
    idempotency_key: str
    labels: tuple[str, ...] = ()
    priority: str | None = None
    assignee: str | None = None
    components: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)
    requester: str = ""
    due_date: date | None = None
    parent: str | None = None


@dataclass(frozen=True)
class IssueRef:
    """A pointer to an issue in a tracker."""

    tracker: str
    key: str
    url: str
    id: str | None = None


@dataclass(frozen=True)
class IssueState:
    """What the hub knows about an existing issue, read in one request.

    ``status_category`` is ``new``, ``indeterminate`` or ``done`` (``done`` is also ``done``'s own
    flag); users are the ids the tracker assigns by (a Jira Data Center user name, a Jira Cloud
    account id, a Kaiten user id). ``container`` is the Jira project key or Kaiten board id,
    ``issue_type`` the Jira issue type's name or the Kaiten card type id. ``fields`` holds only the
    fields asked for, by the id they were asked by.
    """

    ref: IssueRef
    done: bool
    status: str = ""
    summary: str = ""
    labels: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    status_category: str = ""
    assignee: str | None = None
    reporter: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    due_date: date | None = None
    issue_type: str = ""
    priority: str | None = None
    container: str = ""


@dataclass(frozen=True)
class Choice:
    """One allowed value of a field: its id and its name (a Jira option's ``value``, a priority's or
    component's ``name``, a Kaiten select value's ``value``)."""

    id: str
    name: str


@dataclass(frozen=True)
class FieldSpec:
    """One field of a target's create screen (a Jira createmeta field, a Kaiten card field or property).

    ``type`` is one of :data:`FIELD_TYPES`; ``required`` means a create without it is refused (a field
    the tracker fills by default is not required); ``allowed`` is empty when any value goes; ``system``
    tells a tracker's own field from a custom one.
    """

    id: str
    name: str
    type: str
    required: bool = False
    allowed: tuple[Choice, ...] = ()
    default: Any = None
    system: bool = False

    def choice(self, value: str) -> Choice | None:
        """The allowed value with this id, or else this name (case-insensitive); None if there is none."""
        text = str(value)
        by_id = next((c for c in self.allowed if c.id == text), None)
        return by_id or next((c for c in self.allowed if c.name.casefold() == text.casefold()), None)


@dataclass(frozen=True)
class FieldSchema:
    """The fields a target's create screen has; ``issue_types`` lists the container's types (Jira issue
    types of the project, Kaiten card types), so a wrong type can be answered with what exists."""

    target: Target
    fields: tuple[FieldSpec, ...]
    issue_types: tuple[Choice, ...] = ()

    def field(self, id_or_name: str) -> FieldSpec | None:
        """The field with this id, or else this name (case-insensitive)."""
        by_id = next((f for f in self.fields if f.id == id_or_name), None)
        return by_id or next((f for f in self.fields if f.name.casefold() == id_or_name.casefold()), None)

    @property
    def required(self) -> tuple[FieldSpec, ...]:
        """The fields a create must fill."""
        return tuple(f for f in self.fields if f.required)


@dataclass(frozen=True)
class Transition:
    """A way an issue can move on: a Jira workflow transition, or a Kaiten column of the card's board.

    ``to_category`` is one of :data:`STATUS_CATEGORIES`; ``fields`` are what the transition's screen
    asks for (Jira), empty for Kaiten.
    """

    id: str
    name: str
    to_status: str
    to_category: str
    fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True)
class DateRange:
    """A date field (by id: ``customfield_10030``, ``id_505``, ``duedate``) between two days, both
    included; an issue without a value is outside."""

    field: str
    on_or_after: date | None = None
    on_or_before: date | None = None


@dataclass(frozen=True)
class SearchQuery:
    """A tracker-neutral search: every part optional, all of them ANDed.

    ``raw`` is ANDed in as it is: JQL for Jira, a dict of ``GET /cards`` parameters for Kaiten.
    ``status_since_before``: the issue has been in its current status (column) since that moment or
    earlier. ``field_dates``: date fields within ranges.
    """

    containers: tuple[str, ...] = ()  # Jira projects / Kaiten boards
    statuses: tuple[str, ...] = ()
    status_category: tuple[str, ...] = ()
    not_done: bool = False
    assignee_empty: bool | None = None
    assignees: tuple[str, ...] = ()  # assigned to any of them (Jira users, Kaiten responsible user ids)
    labels: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    due_before: date | None = None
    due_after: date | None = None
    keys: tuple[str, ...] = ()
    raw: str | dict[str, Any] | None = None
    status_since_before: datetime | None = None
    field_dates: tuple[DateRange, ...] = ()


@dataclass(frozen=True)
class IssueChanges:
    """An issue a search found updated, with what polling reconciliation replays of it: its JSON as a
    webhook carries it (``id``, ``key``, ``fields.status``), its changelog histories (Jira
    ``expand=changelog``: ``{id, author, created, items[]}``), and its comments (all of them when
    ``comments_complete``)."""

    ref: IssueRef
    issue: dict[str, Any]
    histories: tuple[dict[str, Any], ...] = ()
    comments: tuple[Comment, ...] = ()
    comments_complete: bool = True
    histories_complete: bool = True  # Cloud's search gives the latest 40 histories of an issue at most


@dataclass(frozen=True)
class LinkType:
    """A kind of link between two issues, read as "source <outward> target", "target <inward> source"
    (Jira's ``issueLinkType``: Blocks, "blocks" / "is blocked by")."""

    name: str
    inward: str
    outward: str


@dataclass(frozen=True)
class ChecklistItem:
    """One line of a checklist."""

    id: str
    text: str
    checked: bool = False


@dataclass(frozen=True)
class Checklist:
    """A named checklist on a card (Kaiten; Jira's counterpart is sub-tasks)."""

    id: str
    name: str
    items: tuple[ChecklistItem, ...] = ()


@dataclass(frozen=True)
class TrackerFile:
    """A file attached to an issue or card."""

    id: str
    filename: str
    size: int
    url: str


@dataclass(frozen=True)
class Comment:
    """A comment as the tracker has it now (webhook payloads are only hints)."""

    id: str
    body: str
    author: str  # account id, user name or Kaiten user id
    author_name: str = ""
    public: bool | None = None  # None: the tracker does not say
    created: datetime | None = None
