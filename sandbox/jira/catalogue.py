"""What a fresh Jira holds before anyone works in it, fixed at start: projects and their components,
issue types, statuses and the workflow's transitions, priorities, resolutions, link types, system and
custom fields, and users, each looked up by id or name (or, as Jira Cloud names users, account id).

The projects are the ones the shipped rules and routes use: ``SUP`` (support, the default), ``DEV``
(development: a Bug needs a Severity), ``HW`` (hardware: a Task needs "Spare parts", a field no source
issue has, so a route there must ask for it; "Equipment model" is a select) and ``DB`` (database, nothing
extra required).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

SERVER_VERSION = (9, 12, 0)
CLOUD_VERSION = (1001, 0, 0)  # what Jira Cloud's serverInfo reports (1001.0.0-SNAPSHOT)


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    email: str

    @property
    def account_id(self) -> str:
        """The id Jira Cloud names this user by (24 hex digits, as older Cloud accounts have)."""
        return hashlib.sha256(self.name.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    description: str
    subtask: bool = (
        False  # a sub-task type: created with ``fields.parent``, listed in the parent's ``subtasks``
    )


@dataclass(frozen=True)
class Component:
    id: str
    name: str


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str
    issue_type_ids: tuple[str, ...]
    components: tuple[Component, ...] = ()
    lead: str = "admin"


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # new | indeterminate | done


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str
    sources: frozenset[str]


@dataclass(frozen=True)
class Named:
    """A priority, resolution or select option: an id and a name."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema: dict[str, Any]
    operations: tuple[str, ...] = ("set",)
    custom: bool = False
    on_screen: bool = True
    options: tuple[Named, ...] = ()
    required_in: frozenset[tuple[str, str]] = frozenset()  # (project key, issue type id)


CATEGORIES = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
USERS = (
    User("hub", "Trackerhub", "hub@trackerhub.localhost"),
    User("admin", "Administrator", "admin@example.com"),
    User("jsmith", "John Smith", "jsmith@example.com"),
    User("iivanov", "Иван Иванов", "iivanov@example.com"),
)
ISSUE_TYPES = (
    IssueType("10001", "Story", "A user story."),
    IssueType("10002", "Task", "A task that needs to be done."),
    IssueType("10004", "Bug", "A problem which impairs or prevents the functions of the product."),
    IssueType("10003", "Sub-task", "The sub-task of the issue", subtask=True),  # as a fresh Jira has it
)
SUBTASK_TYPE = "10003"
PROJECTS = (
    Project(
        "10000",
        "SUP",
        "Support",
        ("10002", "10004", SUBTASK_TYPE),
        (Component("10000", "Email"), Component("10001", "Web form"), Component("10002", "Telegram")),
    ),
    Project(
        "10001",
        "DEV",
        "Development",
        ("10002", "10004", "10001", SUBTASK_TYPE),
        (Component("10100", "Backend"), Component("10101", "Frontend")),
    ),
    Project(
        "10002",
        "HW",
        "Hardware",
        ("10002", "10004", SUBTASK_TYPE),
        (Component("10200", "Printers"), Component("10201", "Servers"), Component("10202", "Network")),
    ),
    Project("10003", "DB", "Database", ("10002", "10004", SUBTASK_TYPE), (Component("10300", "PostgreSQL"),)),
)
STATUSES = (
    Status("10000", "To Do", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10100", "Waiting for customer", "indeterminate"),
    Status("10001", "Done", "done"),
)
TRANSITIONS = (
    Transition("11", "To Do", "10000", frozenset({"3", "10100", "10001"})),
    Transition("21", "In Progress", "3", frozenset({"10000", "10100", "10001"})),
    Transition("31", "Waiting for customer", "10100", frozenset({"10000", "3"})),
    Transition("41", "Done", "10001", frozenset({"10000", "3", "10100"})),
)
INITIAL_STATUS = "10000"
PRIORITIES = (
    Named("1", "Highest", "This problem will block progress."),
    Named("2", "High", "Serious problem that could block progress."),
    Named("3", "Medium", "Has the potential to affect progress."),
    Named("4", "Low", "Minor problem or easily worked around."),
    Named("5", "Lowest", "Trivial problem with little or no impact on progress."),
)
PRIORITY_COLOURS = {"1": "#d04437", "2": "#f15c75", "3": "#f79232", "4": "#707070", "5": "#999999"}
DEFAULT_PRIORITY = "3"
RESOLUTIONS = (
    Named("1", "Fixed", "A fix for this issue is checked into the tree and tested."),
    Named("2", "Won't Fix", "The problem described is an issue which will never be fixed."),
    Named("3", "Duplicate", "The problem is a duplicate of an existing issue."),
    Named("4", "Incomplete", "The problem is not completely described."),
    Named("5", "Cannot Reproduce", "All attempts at reproducing this issue failed."),
    Named("10000", "Done", "Work has been completed on this issue."),
    Named("10001", "Won't Do", "This issue won't be actioned."),
)
DEFAULT_RESOLUTION = "10000"
LINK_TYPES = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
)
_CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
SEVERITY_OPTIONS = (Named("10100", "Critical"), Named("10101", "Major"), Named("10102", "Minor"))
EQUIPMENT_OPTIONS = (
    Named("10200", "LaserJet 4250"),
    Named("10201", "PowerEdge R740"),
    Named("10202", "Catalyst 2960"),
)
CUSTOM_FIELDS = (
    FieldDef(
        "customfield_10010",
        "Customer",
        {"type": "string", "custom": _CF + "textfield", "customId": 10010},
        custom=True,
    ),
    FieldDef(
        "customfield_10020",
        "Severity",
        {"type": "option", "custom": _CF + "select", "customId": 10020},
        custom=True,
        options=SEVERITY_OPTIONS,
        required_in=frozenset({("DEV", "10004")}),
    ),
    FieldDef(
        "customfield_10030",
        "Contract end",
        {"type": "date", "custom": _CF + "datepicker", "customId": 10030},
        custom=True,
    ),
    FieldDef(
        "customfield_10040",
        "Spare parts",
        {"type": "string", "custom": _CF + "textfield", "customId": 10040},
        custom=True,
        required_in=frozenset({("HW", "10002")}),
    ),
    FieldDef(
        "customfield_10050",
        "Equipment model",
        {"type": "option", "custom": _CF + "select", "customId": 10050},
        custom=True,
        options=EQUIPMENT_OPTIONS,
    ),
)


def _system(fid: str, name: str, type_: str, *, items: str | None = None, **kw: Any) -> FieldDef:
    schema: dict[str, Any] = {"type": type_, "system": fid}
    if items:
        schema["items"] = items
    return FieldDef(fid, name, schema, **kw)


SYSTEM_FIELDS = (
    _system("project", "Project", "project"),
    _system("issuetype", "Issue Type", "issuetype", operations=()),
    _system("summary", "Summary", "string"),
    _system("description", "Description", "string"),
    _system("priority", "Priority", "priority"),
    _system("labels", "Labels", "array", items="string", operations=("add", "set", "remove")),
    _system("assignee", "Assignee", "user"),
    _system("reporter", "Reporter", "user"),
    _system("components", "Component/s", "array", items="component", operations=("add", "set", "remove")),
    _system("duedate", "Due Date", "date"),
    _system("issuekey", "Key", "string", on_screen=False),
    _system("status", "Status", "status", on_screen=False),
    _system("resolution", "Resolution", "resolution", on_screen=False),
    _system("resolutiondate", "Resolved", "datetime", on_screen=False),
    _system("creator", "Creator", "user", on_screen=False),
    _system("created", "Created", "datetime", on_screen=False),
    _system("updated", "Updated", "datetime", on_screen=False),
    _system("comment", "Comment", "comments-page", on_screen=False, operations=("add", "edit", "remove")),
    _system("attachment", "Attachment", "array", items="attachment", on_screen=False),
    _system("issuelinks", "Linked Issues", "array", items="issuelinks", on_screen=False),
)


class Catalogue:
    """Projects, issue types, statuses, fields and users: fixed at start, looked up by id or name."""

    def __init__(self, extra_projects: Iterable[str] = (), extra_users: Iterable[str] = ()) -> None:
        self.projects: list[Project] = list(PROJECTS)
        for spec in extra_projects:
            self._add_project(spec)
        self.fields: dict[str, FieldDef] = {f.id: f for f in (*SYSTEM_FIELDS, *CUSTOM_FIELDS)}
        self._lock = threading.Lock()
        self._seed_users = {u.name: u for u in USERS}
        for name in extra_users:
            self._seed_users.setdefault(name, User(name, name, f"{name}@example.com"))
        self._users = dict(self._seed_users)

    def _add_project(self, spec: str) -> None:
        key, _, name = spec.partition(":")
        key = key.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,9}", key):
            raise ValueError(f"invalid Jira project key {key!r}")
        if any(p.key == key for p in self.projects):
            return
        new_id = str(max(int(p.id) for p in self.projects) + 1)
        types = ("10002", "10004", "10001", SUBTASK_TYPE)
        self.projects.append(Project(new_id, key, name.strip() or key.title(), types))

    # lookups by id or name; None when unknown
    def project(self, ref: object) -> Project | None:
        text = str(ref).strip()
        return next((p for p in self.projects if text in (p.id, p.key) or text.upper() == p.key), None)

    def issue_type(self, ref: object) -> IssueType | None:
        return _by_id_or_name(ISSUE_TYPES, ref)

    def status(self, ref: object) -> Status | None:
        return _by_id_or_name(STATUSES, ref)

    def priority(self, ref: object) -> Named | None:
        return _by_id_or_name(PRIORITIES, ref)

    def resolution(self, ref: object) -> Named | None:
        return _by_id_or_name(RESOLUTIONS, ref)

    def link_type(self, ref: object) -> LinkType | None:
        return _by_id_or_name(LINK_TYPES, ref)

    def project_issue_types(self, project: Project) -> list[IssueType]:
        by_id = {t.id: t for t in ISSUE_TYPES}
        return [by_id[i] for i in project.issue_type_ids]

    def screen(self, project: Project, issue_type: IssueType) -> list[FieldDef]:
        """The fields of the create screen for this project and type."""
        return [f for f in self.fields.values() if f.on_screen]

    def required(self, fdef: FieldDef, project: Project, issue_type: IssueType) -> bool:
        return (
            fdef.id in ("project", "issuetype", "summary") or (project.key, issue_type.id) in fdef.required_in
        )

    def custom_field(self, ref: str) -> FieldDef | None:
        """A custom field by id (``customfield_10030``), JQL's ``cf[10030]``, or name (case-insensitive)."""
        text = ref.strip()
        if match := re.fullmatch(r"cf\[(\d+)\]", text, re.IGNORECASE):
            text = f"customfield_{match.group(1)}"
        found = self.fields.get(text)
        found = found or next((f for f in self.fields.values() if f.name.lower() == text.lower()), None)
        return found if found is not None and found.custom else None

    # users
    def user(self, name: object) -> User | None:
        with self._lock:
            return self._users.get(str(name)) if name is not None else None

    def user_by_account_id(self, account_id: object) -> User | None:
        with self._lock:
            return next((u for u in self._users.values() if u.account_id == str(account_id)), None)

    def users(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def ensure_user(self, name: str) -> User:
        """A Basic-auth user becomes known the first time it signs in, as on a directory-backed Jira."""
        with self._lock:
            return self._users.setdefault(name, User(name, name, f"{name}@example.com"))

    def forget_users(self) -> None:
        with self._lock:
            self._users = dict(self._seed_users)


_T = TypeVar("_T", IssueType, Status, Named, LinkType)


def _by_id_or_name(items: Iterable[_T], ref: object) -> _T | None:
    if ref is None:
        return None
    text = str(ref).strip()
    found = next((i for i in items if i.id == text), None)
    return found or next((i for i in items if i.name.lower() == text.lower()), None)
