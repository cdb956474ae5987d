"""A Jira Data Center look-alike: the sandbox tracker of ``trackerhub up``, the end-to-end tests and bench.

It speaks enough of the Jira Server/Data Center REST API v2 for the ``jira`` library (3.10) to work
against it unchanged. Shapes follow Atlassian's references:

- Jira Data Center REST API 9.12: https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/
- Jira Cloud platform REST API v2 where Cloud and Data Center agree:
  https://developer.atlassian.com/cloud/jira/platform/rest/v2/ (saved under
  ``../shared/fixtures/jira/``), and what ``jira/client.py`` and ``jira/resources.py`` parse.

What it serves (``/rest/api/2/...``, and the same under ``/rest/api/latest/...``):

- metadata: ``serverInfo`` (anonymous, deploymentType "Server"), ``field``, ``project[/{key}]``,
  ``issuetype``, ``priority``, ``status``, ``resolution``, ``issueLinkType``, ``myself``,
  ``user``, ``user/search``; createmeta in the Data Center 8.4+ shape
  (``issue/createmeta/{project}/issuetypes[/{id}]`` answering ``{"values": [...]}`` pages);
- issues: create (single and bulk, validated the way Jira answers: 400
  ``{"errorMessages": [], "errors": {field: message}}``), get, edit, delete, comments,
  transitions (To Do → In Progress → Waiting for customer → Done), assignee, issue links,
  remote links (upsert by ``globalId``), attachments (multipart ``file``, ``X-Atlassian-Token:
  no-check``), ``search`` with a small JQL subset compiled to SQL (anything else is a 400, not a guess);
- HTML: ``GET /`` lists issues newest first, ``GET /browse/{key}`` shows one (customer text escaped).

Auth: ``Authorization: Bearer <token>`` (user "hub") or Basic (that user); missing → 401.

Test controls under ``/_sandbox`` (no auth): ``POST /_sandbox/faults`` adds a fault rule (see
``FaultBook.add``), ``DELETE /_sandbox/faults`` clears them, ``GET /_sandbox/faults`` lists them,
``GET /_sandbox/stats`` counts requests per method and URL rule, ``POST /_sandbox/reset`` wipes the
issues and the registered webhooks (the seeded projects, types and users stay, and so does the
start-up webhook) and clears faults, stats and webhook delivery records.

Webhooks, sent the way Data Center sends them (see the "webhooks" section): registered with the
admin REST API (``POST``/``GET /rest/webhooks/1.0/webhook``, ``GET``/``PUT``/``DELETE
/rest/webhooks/1.0/webhook/{id}``) or at start-up (``webhook_url``, ``--webhook-url``). After a change
is committed: ``jira:issue_created``; ``comment_created``/``comment_updated``/``comment_deleted``,
each followed by ``jira:issue_updated`` with ``issue_event_type_name`` ``issue_commented``/
``issue_comment_edited``/``issue_comment_deleted`` and the comment (Data Center's double report);
``jira:issue_updated`` with a ``changelog`` for transitions (``issue_generic``), edits
(``issue_updated``) and assignments (``issue_assigned``); ``jira:issue_deleted``. Each delivery has
its own ``X-Atlassian-Webhook-Identifier`` and, with a secret, ``X-Hub-Signature: sha256=<HMAC>``;
one daemon thread posts them (timeout 5 s) and retries a connection error, 5xx or 429 after 0.5 s
and 1 s with the same identifier. ``GET /_sandbox/webhook-deliveries`` lists deliveries,
``POST /_sandbox/webhooks/flush`` waits until none is pending.

Storage is one SQLite file (WAL), one connection per request, so data survives restarts.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer

from sandbox import common
from sandbox.common import RunningSandbox, transaction

log = logging.getLogger(__name__)

SERVER_VERSION = (9, 12, 0)
TEXT_LIMIT = 32767  # jira.text.field.character.limit, the Data Center default
ATTACHMENT_LIMIT = 10 * 1024 * 1024  # "Attachment size", the Data Center default (10 MB)
BULK_LIMIT = 50
SEARCH_MAX_RESULTS = 1000  # jira.search.views.default.max
EXTENSION = "trackerhub.sandbox.jira"
DEFAULT_DB = Path("var") / "sandbox-jira.sqlite3"
DEFAULT_PORT = 2990  # the port of the Atlassian SDK's local Jira


# --- errors --------------------------------------------------------------------------------------------


class JiraError(common.SandboxError):
    """An answer in Jira's error shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str] = (),
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, list(messages), errors, headers=headers)
        self.messages = list(messages)
        self.errors = dict(errors or {})

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def _issue_not_found() -> JiraError:
    return JiraError(404, ["Issue Does Not Exist"])


def _field_errors(errors: dict[str, str]) -> JiraError:
    return JiraError(400, [], errors)


class FieldInvalid(Exception):
    """One field's value is not acceptable; the message is Jira's text for it."""


# --- the static configuration: projects, types, statuses, fields ----------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    email: str


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    description: str


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
)
PROJECTS = (
    Project(
        "10000",
        "SUP",
        "Support",
        ("10002", "10004"),
        (Component("10000", "Email"), Component("10001", "Web form"), Component("10002", "Telegram")),
    ),
    Project(
        "10001",
        "DEV",
        "Development",
        ("10002", "10004", "10001"),
        (Component("10100", "Backend"), Component("10101", "Frontend")),
    ),
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
        self.projects.append(Project(new_id, key, name.strip() or key.title(), ("10002", "10004", "10001")))

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

    # users
    def user(self, name: object) -> User | None:
        with self._lock:
            return self._users.get(str(name)) if name is not None else None

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


# --- storage ---------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS issue (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  project_id TEXT NOT NULL,
  num INTEGER NOT NULL,
  issuetype_id TEXT NOT NULL,
  status_id TEXT NOT NULL,
  priority_id TEXT,
  resolution_id TEXT,
  assignee TEXT,
  reporter TEXT,
  creator TEXT NOT NULL,
  summary TEXT NOT NULL,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  resolutiondate TEXT,
  doc TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS issue_project ON issue (project_id, num);
CREATE INDEX IF NOT EXISTS issue_created ON issue (created);
CREATE TABLE IF NOT EXISTS label (
  issue_id INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY (issue_id, label)
);
CREATE INDEX IF NOT EXISTS label_label ON label (label);
CREATE TABLE IF NOT EXISTS comment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  issue_id INTEGER NOT NULL,
  author TEXT NOT NULL,
  update_author TEXT NOT NULL,
  body TEXT NOT NULL,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS comment_issue ON comment (issue_id);
CREATE TABLE IF NOT EXISTS attachment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  issue_id INTEGER NOT NULL,
  filename TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  author TEXT NOT NULL,
  created TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attachment_issue ON attachment (issue_id);
CREATE TABLE IF NOT EXISTS issue_link (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type_id TEXT NOT NULL,
  inward_id INTEGER NOT NULL,
  outward_id INTEGER NOT NULL,
  UNIQUE (type_id, inward_id, outward_id)
);
CREATE TABLE IF NOT EXISTS remote_link (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  issue_id INTEGER NOT NULL,
  global_id TEXT,
  doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS remote_link_global ON remote_link (issue_id, global_id)
  WHERE global_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS project_counter (project_id TEXT PRIMARY KEY, last_num INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS changelog (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  issue_id INTEGER NOT NULL,
  author TEXT NOT NULL,
  created TEXT NOT NULL,
  items TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  secret TEXT,
  enabled INTEGER NOT NULL DEFAULT 1,
  origin TEXT NOT NULL DEFAULT 'rest',
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
"""
ID_TABLES = ("issue", "comment", "attachment", "issue_link", "remote_link", "changelog")
DATA_TABLES = (*ID_TABLES, "label", "project_counter", "webhook")
FIRST_ID = 10000


def _now() -> str:
    return _format_time(datetime.now(UTC))


def _format_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2024-01-15T10:20:30.123+0000``."""
    return common.millis_stamp(moment, "+0000")


class Store(common.SqliteStore):
    """The SQLite file: schema, connections and transactions."""

    schema = SCHEMA
    # ids start at 10000, as on a fresh Jira; webhooks are numbered from 1
    first_ids: ClassVar[Mapping[str, int]] = {**dict.fromkeys(ID_TABLES, FIRST_ID), "webhook": 1}
    data_tables = DATA_TABLES


def _find_issue(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    ref = ref.strip()
    if ref.isdigit():
        return conn.execute("SELECT * FROM issue WHERE id = ?", (int(ref),)).fetchone()
    return conn.execute("SELECT * FROM issue WHERE key = ?", (ref.upper(),)).fetchone()


def _labels(conn: sqlite3.Connection, issue_id: int) -> list[str]:
    rows = conn.execute("SELECT label FROM label WHERE issue_id = ? ORDER BY label", (issue_id,))
    return [r[0] for r in rows]


def _set_labels(conn: sqlite3.Connection, issue_id: int, labels: Iterable[str]) -> None:
    conn.execute("DELETE FROM label WHERE issue_id = ?", (issue_id,))
    conn.executemany("INSERT OR IGNORE INTO label VALUES (?, ?)", [(issue_id, x) for x in labels])


def _insert_comment(
    conn: sqlite3.Connection, issue_id: int, author: str, body: str, extra: dict[str, Any]
) -> int:
    now = _now()
    cur = conn.execute(
        "INSERT INTO comment (issue_id, author, update_author, body, created, updated, extra) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (issue_id, author, author, body, now, now, json.dumps(extra)),
    )
    _touch(conn, issue_id)
    return int(cur.lastrowid or 0)


def _touch(conn: sqlite3.Connection, issue_id: int) -> None:
    conn.execute("UPDATE issue SET updated = ? WHERE id = ?", (_now(), issue_id))


# --- field values: validation shared by create, bulk create, edit and transitions ------------------------


@dataclass
class Draft:
    """Validated values, ready to store."""

    columns: dict[str, Any] = field(default_factory=dict)
    doc: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FieldContext:
    cat: Catalogue
    project: Project
    text_limit: int


def _text_too_long(limit: int) -> str:
    return f"The entered text is too long. It exceeds the allowed limit of {limit:,} characters."


def _set_summary(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldInvalid("You must specify a summary of the issue.")
    if not isinstance(value, str):
        raise FieldInvalid("Operation value must be a string")
    if "\n" in value or "\r" in value:
        raise FieldInvalid("The summary is invalid because it contains newline characters.")
    if len(value) > 255:
        raise FieldInvalid("Summary must be less than 255 characters.")
    draft.columns["summary"] = value


def _set_description(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is not None and not isinstance(value, str):
        raise FieldInvalid("Operation value must be a string")
    if value is not None and len(value) > ctx.text_limit:
        raise FieldInvalid(_text_too_long(ctx.text_limit))
    draft.doc["description"] = value or None


def _check_label(label: Any) -> str:
    if not isinstance(label, str) or not label:
        raise FieldInvalid("Labels must be non-empty strings.")
    if any(ch.isspace() for ch in label):
        raise FieldInvalid(f"The label '{label}' contains spaces which is invalid.")
    if len(label) > 255:
        raise FieldInvalid(
            f"The label '{label}' exceeds the maximum length for a single label of 255 characters."
        )
    return label


def _set_labels_field(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FieldInvalid("Operation value must be an array of strings")
    draft.labels = sorted({_check_label(x) for x in value})


def _set_priority(value: Any, draft: Draft, ctx: FieldContext) -> None:
    ref = value.get("id", value.get("name")) if isinstance(value, dict) else None
    priority = ctx.cat.priority(ref)
    if priority is None:
        raise FieldInvalid("The priority selected is invalid.")
    draft.columns["priority_id"] = priority.id


def _user_ref(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldInvalid("expected Object containing a 'name' property")
    ref = value.get("name", value.get("key"))
    return None if ref in (None, "", "-1") else str(ref)


def _set_assignee(value: Any, draft: Draft, ctx: FieldContext) -> None:
    name = _user_ref(value)
    if name is not None and ctx.cat.user(name) is None:
        raise FieldInvalid(f"User '{name}' does not exist.")
    draft.columns["assignee"] = name


def _set_reporter(value: Any, draft: Draft, ctx: FieldContext) -> None:
    name = _user_ref(value)
    if name is None:
        raise FieldInvalid("Reporter is required.")
    if ctx.cat.user(name) is None:
        raise FieldInvalid(f"The reporter specified is not a user. User '{name}' does not exist.")
    draft.columns["reporter"] = name


def _component(ref: Any, project: Project) -> Component:
    if not isinstance(ref, dict):
        raise FieldInvalid("expected Object containing a 'name' or 'id' property")
    if "id" in ref:
        found = next((c for c in project.components if c.id == str(ref["id"])), None)
        if found is None:
            raise FieldInvalid(f"Component with id '{ref['id']}' does not exist.")
        return found
    found = next((c for c in project.components if c.name == ref.get("name")), None)
    if found is None:
        raise FieldInvalid(f"Component name '{ref.get('name')}' is not valid")
    return found


def _set_components(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FieldInvalid("Operation value must be an array")
    ids = {_component(ref, ctx.project).id for ref in value}
    draft.doc["components"] = sorted(ids)


def _check_date(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise FieldInvalid(f"Error parsing date string: {value}")


def _set_duedate(value: Any, draft: Draft, ctx: FieldContext) -> None:
    draft.doc["duedate"] = _check_date(value)


def _custom_setter(fdef: FieldDef) -> Callable[[Any, Draft, FieldContext], None]:
    kind = fdef.schema["type"]

    def setter(value: Any, draft: Draft, ctx: FieldContext) -> None:
        if value is None:
            draft.doc[fdef.id] = None
        elif kind == "option":
            draft.doc[fdef.id] = _option(fdef, value).id
        elif kind == "date":
            draft.doc[fdef.id] = _check_date(value)
        elif not isinstance(value, str):
            raise FieldInvalid("Operation value must be a string")
        elif len(value) > 255:
            raise FieldInvalid(_text_too_long(255))
        else:
            draft.doc[fdef.id] = value

    return setter


def _option(fdef: FieldDef, value: Any) -> Named:
    if not isinstance(value, dict):
        raise FieldInvalid("Could not find valid 'id' or 'value' in the Parent Option object.")
    if "id" in value:
        found = next((o for o in fdef.options if o.id == str(value["id"])), None)
        if found is None:
            raise FieldInvalid(f"Option id '{value['id']}' is not valid")
        return found
    found = next((o for o in fdef.options if o.name == value.get("value")), None)
    if found is None:
        raise FieldInvalid(f"Option value '{value.get('value')}' is not valid")
    return found


SETTERS: dict[str, Callable[[Any, Draft, FieldContext], None]] = {
    "summary": _set_summary,
    "description": _set_description,
    "labels": _set_labels_field,
    "priority": _set_priority,
    "assignee": _set_assignee,
    "reporter": _set_reporter,
    "components": _set_components,
    "duedate": _set_duedate,
    **{f.id: _custom_setter(f) for f in CUSTOM_FIELDS},
}


def _cannot_set(fid: str) -> str:
    return f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."


def _apply_fields(fields: dict[str, Any], draft: Draft, ctx: FieldContext, skip: Iterable[str] = ()) -> dict:
    """Run each field's setter; collect Jira's per-field messages."""
    errors: dict[str, str] = {}
    for fid, value in fields.items():
        if fid in skip:
            continue
        setter = SETTERS.get(fid)
        if setter is None:
            errors[fid] = _cannot_set(fid)
            continue
        try:
            setter(value, draft, ctx)
        except FieldInvalid as exc:
            errors[fid] = str(exc)
    return errors


def _resolve_project_and_type(fields: dict[str, Any], cat: Catalogue) -> tuple[Project, IssueType]:
    project_ref = fields.get("project")
    if not project_ref:
        raise _field_errors({"project": "project is required"})
    ref = project_ref.get("id", project_ref.get("key")) if isinstance(project_ref, dict) else project_ref
    project = cat.project(ref) if ref is not None else None
    if project is None:
        raise _field_errors({"project": "valid project is required"})
    type_ref = fields.get("issuetype")
    if not type_ref:
        raise _field_errors({"issuetype": "issue type is required"})
    ref = type_ref.get("id", type_ref.get("name")) if isinstance(type_ref, dict) else type_ref
    issue_type = cat.issue_type(ref)
    if issue_type is None:
        raise _field_errors({"issuetype": "valid issue type is required"})
    if issue_type.id not in project.issue_type_ids:
        raise _field_errors({"issuetype": "The issue type selected is invalid."})
    return project, issue_type


def validate_create(
    body: Any, cat: Catalogue, user: str, text_limit: int
) -> tuple[Project, IssueType, Draft]:
    """Check a create request the way Jira does; raise ``JiraError`` 400 with per-field messages."""
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise JiraError(400, ["Issue must have 'fields' set."])
    fields: dict[str, Any] = body["fields"]
    project, issue_type = _resolve_project_and_type(fields, cat)
    draft = Draft(columns={"priority_id": DEFAULT_PRIORITY, "reporter": user, "assignee": None})
    ctx = FieldContext(cat, project, text_limit)
    errors = _apply_fields(fields, draft, ctx, skip=("project", "issuetype"))
    if "summary" not in fields:
        errors.setdefault("summary", "You must specify a summary of the issue.")
    for fdef in cat.screen(project, issue_type):
        if fdef.custom and cat.required(fdef, project, issue_type) and draft.doc.get(fdef.id) is None:
            errors.setdefault(fdef.id, f"{fdef.name} is required.")
    if errors:
        raise _field_errors(errors)
    return project, issue_type, draft


def _insert_issue(
    conn: sqlite3.Connection, project: Project, issue_type: IssueType, draft: Draft, user: str
) -> sqlite3.Row:
    now = _now()
    with transaction(conn):
        num = conn.execute(
            "INSERT INTO project_counter VALUES (?, 1) "
            "ON CONFLICT (project_id) DO UPDATE SET last_num = last_num + 1 RETURNING last_num",
            (project.id,),
        ).fetchone()[0]
        key = f"{project.key}-{num}"
        cols = draft.columns
        cur = conn.execute(
            "INSERT INTO issue (key, project_id, num, issuetype_id, status_id, priority_id, assignee,"
            " reporter, creator, summary, created, updated, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key, project.id, num, issue_type.id, INITIAL_STATUS, cols.get("priority_id"),
                cols.get("assignee"), cols.get("reporter"), user, cols["summary"], now, now,
                json.dumps(draft.doc),
            ),
        )  # fmt: skip
        issue_id = int(cur.lastrowid or 0)
        _set_labels(conn, issue_id, draft.labels or [])
    log.info("sandbox jira: created %s (id %s)", key, issue_id)
    return conn.execute("SELECT * FROM issue WHERE id = ?", (issue_id,)).fetchone()


# --- edits: PUT issue ("fields" and "update" operations) ----------------------------------------------


def _apply_update_ops(
    update: dict[str, Any], row: sqlite3.Row, draft: Draft, ctx: FieldContext, conn: sqlite3.Connection
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for fid, ops in update.items():
        try:
            _apply_ops(fid, ops, row, draft, ctx, conn)
        except FieldInvalid as exc:
            errors[fid] = str(exc)
    return errors


def _apply_ops(
    fid: str, ops: Any, row: sqlite3.Row, draft: Draft, ctx: FieldContext, conn: sqlite3.Connection
) -> None:
    if fid not in SETTERS and fid != "comment":
        raise FieldInvalid(_cannot_set(fid))
    if not isinstance(ops, list) or not all(isinstance(op, dict) and len(op) == 1 for op in ops):
        raise FieldInvalid('Field operations must be a list of single-key objects such as {"add": value}.')
    for op in ops:
        ((verb, value),) = op.items()
        _apply_op(fid, verb, value, row, draft, ctx, conn)


def _apply_op(
    fid: str,
    verb: str,
    value: Any,
    row: sqlite3.Row,
    draft: Draft,
    ctx: FieldContext,
    conn: sqlite3.Connection,
) -> None:
    if fid == "comment":
        if verb != "add":
            raise FieldInvalid(f"Operation '{verb}' is not supported for field 'comment'.")
        draft.comments.append(
            _comment_body(value.get("body") if isinstance(value, dict) else None, ctx.text_limit)
        )
    elif verb == "set":
        SETTERS[fid](value, draft, ctx)
    elif fid == "labels" and verb in ("add", "remove"):
        current = set(draft.labels if draft.labels is not None else _labels(conn, row["id"]))
        label = _check_label(value)
        draft.labels = sorted(current | {label} if verb == "add" else current - {label})
    elif fid == "components" and verb in ("add", "remove"):
        current = set(draft.doc.get("components", json.loads(row["doc"]).get("components", [])))
        comp = _component(value, ctx.project).id
        draft.doc["components"] = sorted(current | {comp} if verb == "add" else current - {comp})
    else:
        raise FieldInvalid(f"Operation '{verb}' is not supported for field '{fid}'.")


def _comment_body(body: Any, limit: int) -> str:
    if not isinstance(body, str) or not body.strip():
        raise FieldInvalid("Comment body can not be empty!")
    if len(body) > limit:
        raise FieldInvalid(_text_too_long(limit))
    return body


def _save_draft(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft, user: str) -> list[int]:
    """Write an edit inside the caller's transaction; the ids of the comments it added."""
    cols = dict(draft.columns)
    if draft.doc:
        cols["doc"] = json.dumps({**json.loads(row["doc"]), **draft.doc})
    cols["updated"] = _now()
    assignments = ", ".join(f"{name} = ?" for name in cols)
    conn.execute(f"UPDATE issue SET {assignments} WHERE id = ?", (*cols.values(), row["id"]))  # noqa: S608
    if draft.labels is not None:
        _set_labels(conn, row["id"], draft.labels)
    return [_insert_comment(conn, row["id"], user, body, {}) for body in draft.comments]


# --- JQL: a tokenizer, a recursive-descent parser and a compiler to SQL -----------------------------------


class JqlError(Exception):
    """A JQL query Jira would reject, or one the sandbox does not implement; answered as a 400."""


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | lparen | rparen | comma | end
    text: str
    pos: int


@dataclass(frozen=True)
class JqlValue:
    text: str
    kind: str = "text"  # text | func | empty


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != < <= > >= ~ !~ in, not in, is, is not
    values: tuple[JqlValue, ...]


@dataclass(frozen=True)
class BoolNode:
    op: str  # and | or | not
    children: tuple[Clause | BoolNode, ...]


@dataclass(frozen=True)
class JqlQuery:
    where: Clause | BoolNode | None
    order: tuple[tuple[str, bool], ...]  # (field, descending)


_PUNCT = {"(": "lparen", ")": "rparen", ",": "comma"}
_OPS = ("!=", "<=", ">=", "!~", "=", "<", ">", "~")
_WORD_STOP = frozenset(" \t\r\n()\",'=!<>~")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(jql):
        ch = jql[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
        elif op := next((o for o in _OPS if jql.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif ch in "\"'":
            text, end = _read_string(jql, i)
            tokens.append(Token("string", text, i))
            i = end
        else:
            end = i
            while end < len(jql) and jql[end] not in _WORD_STOP:
                end += 1
            if end == i:
                raise JqlError(
                    f"Error in the JQL Query: The character '{ch}' is a reserved JQL character.{_at(i)}"
                )
            tokens.append(Token("word", jql[i:end], i))
            i = end
    tokens.append(Token("end", "", len(jql)))
    return tokens


def _at(pos: int) -> str:
    return f" (line 1, character {pos + 1})"


def _read_string(jql: str, start: int) -> tuple[str, int]:
    quote_char, i = jql[start], start + 1
    out: list[str] = []
    while i < len(jql):
        ch = jql[i]
        if ch == quote_char:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(jql):
            nxt = jql[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                out.append(chr(int(jql[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise JqlError(f"Error in the JQL Query: Illegal escape sequence '\\{nxt}'.{_at(i)}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise JqlError(f"Error in the JQL Query: Missing closing quote for the string starting{_at(start)}.")


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.i = 0

    def parse(self) -> JqlQuery:
        where = None
        if self._peek().kind != "end" and not self._is_keyword("order"):
            where = self._or()
        order: tuple[tuple[str, bool], ...] = ()
        if self._accept_keyword("order"):
            self._expect_keyword("by")
            order = self._order_list()
        tok = self._peek()
        if tok.kind != "end":
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{tok.text}'.{_at(tok.pos)}"
            )
        return JqlQuery(where, order)

    # token helpers
    def _peek(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def _is_keyword(self, word: str) -> bool:
        tok = self._peek()
        return tok.kind == "word" and tok.text.lower() == word

    def _accept_keyword(self, word: str) -> bool:
        if self._is_keyword(word):
            self._next()
            return True
        return False

    def _expect_keyword(self, word: str) -> None:
        tok = self._next()
        if not (tok.kind == "word" and tok.text.lower() == word):
            raise JqlError(
                f"Error in the JQL Query: Expecting '{word.upper()}' but got '{tok.text}'.{_at(tok.pos)}"
            )

    def _expect(self, kind: str, what: str) -> Token:
        tok = self._next()
        if tok.kind != kind:
            raise JqlError(f"Error in the JQL Query: Expecting {what} but got '{tok.text}'.{_at(tok.pos)}")
        return tok

    # grammar
    def _or(self) -> Clause | BoolNode:
        parts = [self._and()]
        while self._accept_keyword("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else BoolNode("or", tuple(parts))

    def _and(self) -> Clause | BoolNode:
        parts = [self._not()]
        while self._accept_keyword("and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else BoolNode("and", tuple(parts))

    def _not(self) -> Clause | BoolNode:
        if self._accept_keyword("not"):
            return BoolNode("not", (self._not(),))
        if self._peek().kind == "lparen":
            self._next()
            node = self._or()
            self._expect("rparen", "')'")
            return node
        return self._clause()

    def _clause(self) -> Clause:
        tok = self._next()
        if tok.kind not in ("word", "string"):
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got '{tok.text}'.{_at(tok.pos)}"
            )
        op, values = self._operator_and_values()
        if op in ("=", "!=") and values[0].kind == "empty":
            op, values = ("is" if op == "=" else "is not"), ()
        return Clause(tok.text, op, values)

    def _operator_and_values(self) -> tuple[str, tuple[JqlValue, ...]]:
        tok = self._next()
        if tok.kind == "op":
            return tok.text, (self._value(),)
        word = tok.text.lower() if tok.kind == "word" else ""
        if word == "in":
            return "in", self._value_list()
        if word == "not":
            self._expect_keyword("in")
            return "not in", self._value_list()
        if word == "is":
            negate = self._accept_keyword("not")
            value = self._value()
            if value.kind != "empty":
                raise JqlError(f"Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after IS.{_at(tok.pos)}")
            return ("is not" if negate else "is"), ()
        raise JqlError(f"Error in the JQL Query: Expecting operator but got '{tok.text}'.{_at(tok.pos)}")

    def _value_list(self) -> tuple[JqlValue, ...]:
        self._expect("lparen", "'('")
        values = [self._value()]
        while self._peek().kind == "comma":
            self._next()
            values.append(self._value())
        self._expect("rparen", "')'")
        return tuple(values)

    def _value(self) -> JqlValue:
        tok = self._next()
        if tok.kind == "string":
            return JqlValue(tok.text)
        if tok.kind != "word":
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{tok.text}'.{_at(tok.pos)}")
        if tok.text.lower() in ("empty", "null"):
            return JqlValue(tok.text, "empty")
        if self._peek().kind == "lparen":
            self._next()
            self._expect("rparen", "')' (functions with arguments are not supported by the sandbox)")
            return JqlValue(tok.text.lower(), "func")
        return JqlValue(tok.text)

    def _order_list(self) -> tuple[tuple[str, bool], ...]:
        items = [self._order_item()]
        while self._peek().kind == "comma":
            self._next()
            items.append(self._order_item())
        return tuple(items)

    def _order_item(self) -> tuple[str, bool]:
        tok = self._next()
        if tok.kind not in ("word", "string"):
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got '{tok.text}'.{_at(tok.pos)}"
            )
        descending = False
        if self._accept_keyword("desc"):
            descending = True
        else:
            self._accept_keyword("asc")
        return tok.text.lower(), descending


def parse_jql(jql: str) -> JqlQuery:
    return _Parser(jql).parse()


@dataclass
class JqlContext:
    cat: Catalogue
    conn: sqlite3.Connection
    user: str
    validate: bool
    warnings: list[str] = field(default_factory=list)


Sql = tuple[str, list[Any]]
EQUALITY_OPS = ("=", "!=", "in", "not in")
DATE_OPS = ("=", "!=", "<", "<=", ">", ">=")
# real Jira fields the sandbox does not search on: a clear 400 rather than a wrong answer
UNSUPPORTED_FIELDS = frozenset(
    {"summary", "description", "text", "comment", "component", "fixversion", "affectedversion", "sprint",
     "duedate", "resolutiondate", "creator", "watcher", "parent", "environment", "attachments", "issuelink"}
)  # fmt: skip


def _unsupported_op(clause: Clause) -> JqlError:
    return JqlError(f"The operator '{clause.op.upper()}' is not supported by the '{clause.field}' field.")


def _no_value(clause: Clause, value: JqlValue) -> JqlError:
    return JqlError(f"The value '{value.text}' does not exist for the field '{clause.field}'.")


def _membership(column: str, op: str, ids: Sequence[Any]) -> Sql:
    if not ids:
        return ("0" if op in ("=", "in") else "1"), []
    marks = ", ".join("?" * len(ids))
    if op in ("=", "in"):
        return f"{column} IN ({marks})", list(ids)
    return f"({column} IS NOT NULL AND {column} NOT IN ({marks}))", list(ids)


def _equality_handler(
    column: str, resolve: Callable[[Clause, JqlValue, JqlContext], list[str]], *, nullable: bool = False
) -> Callable[[Clause, JqlContext], Sql]:
    def handler(clause: Clause, ctx: JqlContext) -> Sql:
        if clause.op in ("is", "is not") and nullable:
            return f"{column} {'IS NULL' if clause.op == 'is' else 'IS NOT NULL'}", []
        if clause.op not in EQUALITY_OPS:
            raise _unsupported_op(clause)
        ids = [found for value in clause.values for found in resolve(clause, value, ctx)]
        return _membership(column, clause.op, ids)

    return handler


def _lookup(find: Callable[[Catalogue, str], Any]) -> Callable[[Clause, JqlValue, JqlContext], list[str]]:
    def resolve(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
        found = find(ctx.cat, value.text) if value.kind == "text" else None
        if found is None:
            raise _no_value(clause, value)
        return [found.id]

    return resolve


def _resolve_status_category(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    text = value.text.lower()
    keys = [k for k, (cid, name, _) in CATEGORIES.items() if text in (k, name.lower(), str(cid))]
    if not keys or value.kind != "text":
        raise _no_value(clause, value)
    return [s.id for s in STATUSES if s.category == keys[0]]


def _resolve_user(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    if value.kind == "func" and value.text == "currentuser":
        return [ctx.user]
    if value.kind != "text" or ctx.cat.user(value.text) is None:
        raise _no_value(clause, value)
    return [value.text]


def _resolve_resolution(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    found = ctx.cat.resolution(value.text) if value.kind == "text" else None
    if found is None:
        raise _no_value(clause, value)
    return [found.id]


def _resolve_issue(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    row = _find_issue(ctx.conn, value.text) if value.kind == "text" else None
    if row is not None:
        return [row["id"]]
    message = f"An issue with key '{value.text}' does not exist for field '{clause.field}'."
    if ctx.validate:
        raise JqlError(message)
    ctx.warnings.append(message)
    return []


def _labels_handler(clause: Clause, ctx: JqlContext) -> Sql:
    has_any = "EXISTS (SELECT 1 FROM label l WHERE l.issue_id = i.id)"
    if clause.op in ("is", "is not"):
        return (f"NOT {has_any}" if clause.op == "is" else has_any), []
    if clause.op not in EQUALITY_OPS:
        raise _unsupported_op(clause)
    if any(v.kind != "text" for v in clause.values):
        raise JqlError(f"The sandbox does not support functions in the '{clause.field}' field.")
    values = [v.text for v in clause.values]
    marks = ", ".join("?" * len(values))
    matching = f"EXISTS (SELECT 1 FROM label l WHERE l.issue_id = i.id AND l.label IN ({marks}))"  # noqa: S608
    if clause.op in ("=", "in"):
        return matching, values
    return f"({has_any} AND NOT {matching})", values


_RELATIVE = re.compile(r"([+-]?)(\d+)([wdhm])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def jql_moment(value: JqlValue, now: datetime) -> datetime:
    """A JQL date value: ``"2024-01-15[ 10:30]"``, ``-5d``/``-4h``/``-1w``, ``now()``, ``startOfDay()``."""
    if value.kind == "func":
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        funcs = {"now": now, "startofday": day, "endofday": day + timedelta(days=1, milliseconds=-1)}
        if value.text in funcs:
            return funcs[value.text]
        raise JqlError(f"The sandbox does not support the JQL function '{value.text}()'.")
    text = value.text.strip()
    if match := _RELATIVE.fullmatch(text.lower()):
        sign = -1 if match.group(1) == "-" else 1
        return now + sign * int(match.group(2)) * _UNITS[match.group(3)]
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


def _date_handler(column: str) -> Callable[[Clause, JqlContext], Sql]:
    def handler(clause: Clause, ctx: JqlContext) -> Sql:
        if clause.op not in DATE_OPS:
            raise _unsupported_op(clause)
        moment = _format_time(jql_moment(clause.values[0], datetime.now(UTC)))
        sql_op = "<>" if clause.op == "!=" else clause.op
        return f"{column} {sql_op} ?", [moment]

    return handler


JQL_FIELDS: dict[str, Callable[[Clause, JqlContext], Sql]] = {
    "project": _equality_handler("i.project_id", _lookup(Catalogue.project)),
    "key": _equality_handler("i.id", _resolve_issue),
    "issuekey": _equality_handler("i.id", _resolve_issue),
    "id": _equality_handler("i.id", _resolve_issue),
    "labels": _labels_handler,
    "status": _equality_handler("i.status_id", _lookup(Catalogue.status)),
    "statuscategory": _equality_handler("i.status_id", _resolve_status_category),
    "issuetype": _equality_handler("i.issuetype_id", _lookup(Catalogue.issue_type)),
    "type": _equality_handler("i.issuetype_id", _lookup(Catalogue.issue_type)),
    "priority": _equality_handler("i.priority_id", _lookup(Catalogue.priority)),
    "assignee": _equality_handler("i.assignee", _resolve_user, nullable=True),
    "reporter": _equality_handler("i.reporter", _resolve_user, nullable=True),
    "resolution": _equality_handler("i.resolution_id", _resolve_resolution, nullable=True),
    "created": _date_handler("i.created"),
    "createddate": _date_handler("i.created"),
    "updated": _date_handler("i.updated"),
    "updateddate": _date_handler("i.updated"),
}
ORDER_COLUMNS = {
    "created": ("i.created",),
    "updated": ("i.updated",),
    "key": ("i.project_id", "i.num"),
    "issuekey": ("i.project_id", "i.num"),
    "id": ("i.id",),
    "priority": ("-CAST(i.priority_id AS INTEGER)",),
}


def _compile_node(node: Clause | BoolNode, ctx: JqlContext) -> Sql:
    if isinstance(node, Clause):
        return _compile_clause(node, ctx)
    parts = [_compile_node(child, ctx) for child in node.children]
    params = [p for _, ps in parts for p in ps]
    if node.op == "not":
        return f"NOT ({parts[0][0]})", params
    joiner = " AND " if node.op == "and" else " OR "
    return "(" + joiner.join(sql for sql, _ in parts) + ")", params


def _compile_clause(clause: Clause, ctx: JqlContext) -> Sql:
    name = clause.field.lower()
    if (
        name == "resolution"
        and clause.op in EQUALITY_OPS
        and any(v.text.lower() == "unresolved" for v in clause.values)
    ):
        return ("i.resolution_id IS NULL" if clause.op in ("=", "in") else "i.resolution_id IS NOT NULL"), []
    handler = JQL_FIELDS.get(name)
    if handler is not None:
        return handler(clause, ctx)
    if name in UNSUPPORTED_FIELDS or name.startswith("cf[") or name.startswith("customfield_"):
        raise JqlError(f"The sandbox does not support searching on the field '{clause.field}'.")
    raise JqlError(f"Field '{clause.field}' does not exist or you do not have permission to view it.")


def compile_jql(query: JqlQuery, ctx: JqlContext) -> tuple[str, list[Any], str]:
    """WHERE clause, its parameters and the ORDER BY list (table alias ``i``)."""
    where, params = _compile_node(query.where, ctx) if query.where is not None else ("1", [])
    order: list[str] = []
    for name, descending in query.order:
        columns = ORDER_COLUMNS.get(name)
        if columns is None:
            raise JqlError(f"Not able to sort using field '{name}'.")
        order.extend(f"{col} {'DESC' if descending else 'ASC'}" for col in columns)
    order.append("i.id DESC" if not query.order else f"i.id {'DESC' if query.order[0][1] else 'ASC'}")
    return where, params, ", ".join(order)


# --- fault injection --------------------------------------------------------------------------------------


def _fault_answer(status: int, rule: common.FaultRule) -> Response:
    """Jira's error shape, with ``Retry-After`` when the rule has ``retry_after``."""
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
    return JiraError(status, [f"Injected by the sandbox (fault rule {rule.id})."], headers=headers).response()


# --- application state and request plumbing -------------------------------------------------------------


@dataclass
class SandboxState(common.SandboxStateBase):
    counted: ClassVar[Mapping[str, str]] = {
        "issues": "issue",
        "comments": "comment",
        "attachments": "attachment",
    }

    cat: Catalogue
    base_url: str | None
    token: str | None
    text_limit: int
    attachment_limit: int
    webhooks: common.WebhookSender
    startup_webhook: tuple[str, str | None] | None = None  # (url, secret) from the command line

    def reset(self) -> None:
        """Also forgets the users signed in, registered webhooks and delivery records; the start-up
        webhook is registered again."""
        super().reset()
        self.cat.forget_users()
        self.webhooks.forget()
        _register_startup_webhook(self.store, self.startup_webhook)


def _state() -> SandboxState:
    state: SandboxState = current_app.extensions[EXTENSION]
    return state


def _db() -> sqlite3.Connection:
    return common.request_db(_state().store)


def _base() -> str:
    return _state().base_url or request.url_root.rstrip("/")


def _api() -> str:
    return _base() + "/rest/api/2"


def _user() -> str:
    return str(g.get("sandbox_jira_user") or "hub")


def _json_body() -> Any:
    return common.json_body(lambda: JiraError(400, ["The request body must be JSON."]))


def _before_request() -> Response | None:
    if common.is_control_request():
        return None
    state = _state()
    state.stats.record_request()
    injected = state.faults.before_request()
    if injected is not None:
        return injected
    if request.path.startswith("/rest/") and not request.path.endswith("/serverInfo"):
        g.sandbox_jira_user = _authenticate(state)
    return None


def _after_request(response: Response) -> Response:
    if common.is_control_request():
        return response
    return _state().faults.after_request(response)


def _authenticate(state: SandboxState) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    failed = JiraError(
        401,
        ["You are not authenticated. Authentication required to perform this operation."],
        headers={
            "WWW-Authenticate": 'Basic realm="protected-area"',
            "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
        },
    )
    if scheme.lower() == "bearer" and credentials.strip():
        if state.token is not None and credentials.strip() != state.token:
            raise failed
        return "hub"
    if scheme.lower() == "basic":
        try:
            name, sep, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise failed
        if not sep or not name or (state.token is not None and password != state.token):
            raise failed
        return state.cat.ensure_user(name).name
    raise JiraError(
        401,
        ["You are not authenticated. Authentication required to perform this operation."],
        headers={"WWW-Authenticate": 'Basic realm="protected-area"'},
    )


def _handle_http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return JiraError(413, ["The request is larger than the sandbox accepts."]).response()
    if request.path.startswith("/rest/"):
        resp = jsonify({"message": f"null for uri: {request.url}", "status-code": exc.code})
        resp.status_code = exc.code or 500
        return resp
    resp = Response(f"{exc.code} {exc.name}", status=exc.code or 500, mimetype="text/plain")
    return resp


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("sandbox jira: unexpected error on %s %s", request.method, request.path)
    return JiraError(500, ["Internal server error"]).response()


# --- JSON renderers ----------------------------------------------------------------------------------------

AVATAR_SIZES = ("48x48", "24x24", "16x16", "32x32")


def _avatars(kind: str, ident: str) -> dict[str, str]:
    return {size: f"{_base()}/secure/{kind}avatar?size={size}&avatarId={ident}" for size in AVATAR_SIZES}


def user_json(name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    user = _state().cat.user(name) or User(name, name, "")
    return {
        "self": f"{_api()}/user?username={quote(user.name)}",
        "name": user.name,
        "key": user.name,
        "emailAddress": user.email,
        "avatarUrls": _avatars("user", "10122"),
        "displayName": user.display_name,
        "active": True,
        "timeZone": "UTC",
    }


def status_json(status: Status) -> dict[str, Any]:
    cid, cname, colour = CATEGORIES[status.category]
    return {
        "self": f"{_api()}/status/{status.id}",
        "description": "",
        "iconUrl": f"{_base()}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": f"{_api()}/statuscategory/{cid}",
            "id": cid,
            "key": status.category,
            "colorName": colour,
            "name": cname,
        },
    }


def priority_json(priority: Named, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{_api()}/priority/{priority.id}",
        "iconUrl": f"{_base()}/images/icons/priorities/{priority.name.lower()}.svg",
        "name": priority.name,
        "id": priority.id,
    }
    if full:
        out.update(statusColor=PRIORITY_COLOURS[priority.id], description=priority.description)
    return out


def resolution_json(resolution: Named) -> dict[str, Any]:
    return {
        "self": f"{_api()}/resolution/{resolution.id}",
        "id": resolution.id,
        "description": resolution.description,
        "name": resolution.name,
    }


def issue_type_json(issue_type: IssueType) -> dict[str, Any]:
    return {
        "self": f"{_api()}/issuetype/{issue_type.id}",
        "id": issue_type.id,
        "description": issue_type.description,
        "iconUrl": f"{_base()}/secure/viewavatar?size=xsmall&avatarId=10318&avatarType=issuetype",
        "name": issue_type.name,
        "subtask": False,
        "avatarId": 10318,
    }


def component_json(component: Component) -> dict[str, Any]:
    return {"self": f"{_api()}/component/{component.id}", "id": component.id, "name": component.name}


def project_json(project: Project, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "expand": "description,lead,url,projectKeys",
        "self": f"{_api()}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": _avatars("project", "10324"),
        "projectTypeKey": "software",
    }
    if full:
        out.update(
            description="",
            lead=user_json(project.lead),
            components=[component_json(c) for c in project.components],
            issueTypes=[issue_type_json(t) for t in _state().cat.project_issue_types(project)],
            assigneeType="UNASSIGNED",
            versions=[],
            roles={},
            projectKeys=[project.key],
        )
    return out


def link_type_json(link_type: LinkType) -> dict[str, Any]:
    return {
        "id": link_type.id,
        "name": link_type.name,
        "inward": link_type.inward,
        "outward": link_type.outward,
        "self": f"{_api()}/issueLinkType/{link_type.id}",
    }


def field_json(fdef: FieldDef) -> dict[str, Any]:
    clause_names = [f"cf[{fdef.schema['customId']}]", fdef.name] if fdef.custom else [fdef.id]
    return {
        "id": fdef.id,
        "name": fdef.name,
        "custom": fdef.custom,
        "orderable": fdef.on_screen,
        "navigable": True,
        "searchable": True,
        "clauseNames": clause_names,
        "schema": fdef.schema,
    }


def option_json(option: Named) -> dict[str, Any]:
    return {
        "self": f"{_api()}/customFieldOption/{option.id}",
        "value": option.name,
        "id": option.id,
        "disabled": False,
    }


def comment_json(row: sqlite3.Row, *, expand: str = "") -> dict[str, Any]:
    extra = json.loads(row["extra"])
    out: dict[str, Any] = {
        "self": f"{_api()}/issue/{row['issue_id']}/comment/{row['id']}",
        "id": str(row["id"]),
        "author": user_json(row["author"]),
        "body": row["body"],
        "updateAuthor": user_json(row["update_author"]),
        "created": row["created"],
        "updated": row["updated"],
    }
    if extra.get("visibility"):
        out["visibility"] = extra["visibility"]
    if "properties" in expand:
        out["properties"] = extra.get("properties", [])
    return out


def attachment_json(row: sqlite3.Row) -> dict[str, Any]:
    content = f"{_base()}/secure/attachment/{row['id']}/{quote(row['filename'])}"
    out: dict[str, Any] = {
        "self": f"{_api()}/attachment/{row['id']}",
        "id": str(row["id"]),
        "filename": row["filename"],
        "author": user_json(row["author"]),
        "created": row["created"],
        "size": row["size"],
        "mimeType": row["mime_type"],
        "content": content,
    }
    if row["mime_type"] in INLINE_TYPES:
        out["thumbnail"] = content
    return out


def _linked_issue_json(row: sqlite3.Row) -> dict[str, Any]:
    cat = _state().cat
    status = cat.status(row["status_id"])
    priority = cat.priority(row["priority_id"])
    issue_type = cat.issue_type(row["issuetype_id"])
    return {
        "id": str(row["id"]),
        "key": row["key"],
        "self": f"{_api()}/issue/{row['id']}",
        "fields": {
            "summary": row["summary"],
            "status": status_json(status) if status else None,
            "priority": priority_json(priority) if priority else None,
            "issuetype": issue_type_json(issue_type) if issue_type else None,
        },
    }


def _issue_links(conn: sqlite3.Connection, issue_id: int) -> list[dict[str, Any]]:
    """Each link as seen from this issue: ``outwardIssue`` on the "from" side, else ``inwardIssue``."""
    rows = conn.execute(
        "SELECT * FROM issue_link WHERE inward_id = ? OR outward_id = ? ORDER BY id", (issue_id, issue_id)
    ).fetchall()
    out = []
    for link in rows:
        link_type = _state().cat.link_type(link["type_id"])
        if link_type is None:
            continue
        from_side = link["outward_id"] == issue_id
        other = _find_issue(conn, str(link["inward_id"] if from_side else link["outward_id"]))
        if other is None:
            continue
        out.append(
            {
                "id": str(link["id"]),
                "self": f"{_api()}/issueLink/{link['id']}",
                "type": link_type_json(link_type),
                ("outwardIssue" if from_side else "inwardIssue"): _linked_issue_json(other),
            }
        )
    return out


FieldRenderer = Callable[[sqlite3.Row, dict[str, Any], sqlite3.Connection], Any]


def _named_or_none(value: Any, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any] | None:
    return render(value) if value is not None else None


def _render_comments(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> dict[str, Any]:
    rows = conn.execute("SELECT * FROM comment WHERE issue_id = ? ORDER BY id", (row["id"],)).fetchall()
    return {
        "comments": [comment_json(c) for c in rows],
        "maxResults": len(rows),
        "total": len(rows),
        "startAt": 0,
    }


def _render_attachments(
    row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, issue_id, filename, mime_type, size, author, created FROM attachment WHERE issue_id = ? "
        "ORDER BY id",
        (row["id"],),
    ).fetchall()
    return [attachment_json(a) for a in rows]


def _render_components(
    row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection
) -> list[dict[str, Any]]:
    project = _state().cat.project(row["project_id"])
    by_id = {c.id: c for c in project.components} if project else {}
    return [component_json(by_id[c]) for c in doc.get("components", []) if c in by_id]


def _custom_value(fdef: FieldDef) -> FieldRenderer:
    def render(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> Any:
        value = doc.get(fdef.id)
        if value is not None and fdef.schema["type"] == "option":
            option = next((o for o in fdef.options if o.id == value), None)
            return option_json(option) if option else None
        return value

    return render


def _cat() -> Catalogue:
    return _state().cat


FIELD_RENDERERS: dict[str, FieldRenderer] = {
    "summary": lambda r, d, c: r["summary"],
    "description": lambda r, d, c: d.get("description"),
    "labels": lambda r, d, c: _labels(c, r["id"]),
    "status": lambda r, d, c: _named_or_none(_cat().status(r["status_id"]), status_json),
    "priority": lambda r, d, c: _named_or_none(_cat().priority(r["priority_id"]), priority_json),
    "resolution": lambda r, d, c: _named_or_none(_cat().resolution(r["resolution_id"]), resolution_json),
    "resolutiondate": lambda r, d, c: r["resolutiondate"],
    "assignee": lambda r, d, c: user_json(r["assignee"]),
    "reporter": lambda r, d, c: user_json(r["reporter"]),
    "creator": lambda r, d, c: user_json(r["creator"]),
    "issuetype": lambda r, d, c: _named_or_none(_cat().issue_type(r["issuetype_id"]), issue_type_json),
    "project": lambda r, d, c: _named_or_none(_cat().project(r["project_id"]), project_json),
    "created": lambda r, d, c: r["created"],
    "updated": lambda r, d, c: r["updated"],
    "duedate": lambda r, d, c: d.get("duedate"),
    "components": _render_components,
    "comment": _render_comments,
    "attachment": _render_attachments,
    "issuelinks": lambda r, d, c: _issue_links(c, r["id"]),
    "subtasks": lambda r, d, c: [],
    "fixVersions": lambda r, d, c: [],
    "versions": lambda r, d, c: [],
    "environment": lambda r, d, c: None,
    **{f.id: _custom_value(f) for f in CUSTOM_FIELDS},
}


def wanted_fields(specs: Iterable[str] | None, default: str = "*all") -> list[str]:
    """Jira's ``fields`` parameter: ``*all``, ``*navigable``, names, and ``-name`` to leave one out."""
    items = [part.strip() for spec in (specs or [default]) for part in str(spec).split(",") if part.strip()]
    items = items or [default]
    chosen: list[str] = []
    for item in items:
        if item in ("*all", "*navigable"):
            chosen.extend(FIELD_RENDERERS)
        elif not item.startswith("-") and item in FIELD_RENDERERS:
            chosen.append(item)
    excluded = {item[1:] for item in items if item.startswith("-")}
    return [f for f in dict.fromkeys(chosen) if f not in excluded]


def issue_json(
    row: sqlite3.Row, conn: sqlite3.Connection, fields: Sequence[str], expand: str = ""
) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(row["id"]),
        "self": f"{_api()}/issue/{row['id']}",
        "key": row["key"],
        "fields": {name: FIELD_RENDERERS[name](row, doc, conn) for name in fields},
    }
    if "names" in expand:
        defs = _cat().fields
        out["names"] = {name: defs[name].name for name in fields if name in defs}
    if "transitions" in expand:
        out["transitions"] = [transition_json(t, "fields" in expand) for t in _available(row)]
    return out


def transition_json(transition: Transition, with_fields: bool = False) -> dict[str, Any]:
    status = _cat().status(transition.to)
    assert status is not None
    out: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(status),
        "hasScreen": False,
        "isGlobal": False,
        "isInitial": False,
        "isConditional": False,
    }
    if with_fields:
        out["fields"] = _transition_fields(transition)
    return out


def _transition_fields(transition: Transition) -> dict[str, Any]:
    status = _cat().status(transition.to)
    if status is None or status.category != "done":
        return {}
    return {
        "resolution": {
            "required": True,
            "schema": {"type": "resolution", "system": "resolution"},
            "name": "Resolution",
            "fieldId": "resolution",
            "hasDefaultValue": True,
            "operations": ["set"],
            "allowedValues": [resolution_json(r) for r in RESOLUTIONS],
        }
    }


def _available(row: sqlite3.Row) -> list[Transition]:
    return [t for t in TRANSITIONS if row["status_id"] in t.sources]


def createmeta_field_json(fdef: FieldDef, project: Project, issue_type: IssueType) -> dict[str, Any]:
    out: dict[str, Any] = {
        "required": _cat().required(fdef, project, issue_type),
        "schema": fdef.schema,
        "name": fdef.name,
        "fieldId": fdef.id,
        "hasDefaultValue": fdef.id in ("priority", "reporter"),
        "operations": list(fdef.operations),
    }
    allowed = _allowed_values(fdef, project, issue_type)
    if allowed is not None:
        out["allowedValues"] = allowed
    if fdef.id == "priority":
        default = _cat().priority(DEFAULT_PRIORITY)
        out["defaultValue"] = priority_json(default) if default else None
    if fdef.id in ("assignee", "reporter"):
        out["autoCompleteUrl"] = f"{_api()}/user/search?username="
    if fdef.id == "labels":
        out["autoCompleteUrl"] = f"{_base()}/rest/api/1.0/labels/suggest?query="
    return out


def _allowed_values(fdef: FieldDef, project: Project, issue_type: IssueType) -> list[dict[str, Any]] | None:
    if fdef.id == "project":
        return [project_json(project)]
    if fdef.id == "issuetype":
        return [issue_type_json(issue_type)]
    if fdef.id == "priority":
        return [priority_json(p) for p in PRIORITIES]
    if fdef.id == "components":
        return [component_json(c) for c in project.components]
    if fdef.options:
        return [option_json(o) for o in fdef.options]
    return None


# --- REST views ------------------------------------------------------------------------------------------

bp = Blueprint("sandbox_jira", __name__, template_folder="templates")
# the library uses both versions
api_route = common.ApiRoute(bp, ("/rest/api/2", "/rest/api/latest"))
common.add_control_routes(bp, EXTENSION, log=log, name="jira")


def _page(items: list[Any], start: int, limit: int) -> dict[str, Any]:
    page = items[start : start + limit]
    return {
        "maxResults": limit,
        "startAt": start,
        "total": len(items),
        "isLast": start + len(page) >= len(items),
        "values": page,
    }


def _parse_int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _int_arg(name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    return common.int_arg(
        name,
        default,
        low,
        high,
        parse=_parse_int,
        invalid=lambda name: JiraError(400, [f"The '{name}' parameter must be a number."]),
    )


def _project_or_404(ref: str) -> Project:
    project = _cat().project(ref)
    if project is None:
        raise JiraError(404, [f"No project could be found with key '{ref}'."])
    return project


def _issue_or_404(ref: str) -> sqlite3.Row:
    row = _find_issue(_db(), ref)
    if row is None:
        raise _issue_not_found()
    return row


@api_route("/serverInfo")
def server_info() -> Response:
    return jsonify(
        baseUrl=_base(),
        version=".".join(map(str, SERVER_VERSION)),
        versionNumbers=list(SERVER_VERSION),
        deploymentType="Server",
        buildNumber=912000,
        buildDate="2023-11-28T00:00:00.000+0000",
        serverTime=_now(),
        scmInfo="trackerhub-sandbox",
        serverTitle="trackerhub sandbox Jira",
    )


@api_route("/myself")
def myself() -> Response:
    out = user_json(_user()) or {}
    out.update(locale="en_US", groups={"size": 1, "items": []}, expand="groups,applicationRoles")
    return jsonify(out)


@api_route("/user")
def get_user() -> Response:
    name = request.args.get("username") or request.args.get("key") or ""
    if _cat().user(name) is None:
        raise JiraError(404, [f"The user named '{name}' does not exist"])
    return jsonify(user_json(name))


def _user_matches(user: User, query: str) -> bool:
    parts = (user.name.lower(), user.email.lower(), *user.display_name.lower().split())
    return any(part.startswith(query) for part in parts)


@api_route("/user/search")
def search_users() -> Response:
    query = (request.args.get("username") or "").strip().lower()
    if not query:
        raise JiraError(400, ["The username query parameter was not provided"])
    matches = [u for u in _cat().users() if query == "." or _user_matches(u, query)]
    start = _int_arg("startAt", 0)
    limit = _int_arg("maxResults", 50, 1, 1000)
    return jsonify([user_json(u.name) for u in matches[start : start + limit]])


@api_route("/field")
def fields_list() -> Response:
    return jsonify([field_json(f) for f in _cat().fields.values()])


@api_route("/project")
def projects() -> Response:
    full = "issueTypes" in (request.args.get("expand") or "")
    return jsonify([project_json(p, full=full) for p in _cat().projects])


@api_route("/project/<ref>")
def project_detail(ref: str) -> Response:
    return jsonify(project_json(_project_or_404(ref), full=True))


@api_route("/project/<ref>/components")
def project_components(ref: str) -> Response:
    return jsonify([component_json(c) for c in _project_or_404(ref).components])


@api_route("/project/<ref>/statuses")
def project_statuses(ref: str) -> Response:
    project = _project_or_404(ref)
    statuses = [status_json(s) for s in STATUSES]
    types = _cat().project_issue_types(project)
    return jsonify([{**issue_type_json(t), "statuses": statuses} for t in types])


@api_route("/issuetype")
def issue_types() -> Response:
    return jsonify([issue_type_json(t) for t in ISSUE_TYPES])


@api_route("/issuetype/<ref>")
def issue_type_detail(ref: str) -> Response:
    issue_type = _cat().issue_type(ref)
    if issue_type is None:
        raise JiraError(404, [f"The issue type with id '{ref}' does not exist"])
    return jsonify(issue_type_json(issue_type))


@api_route("/priority")
def priorities() -> Response:
    return jsonify([priority_json(p, full=True) for p in PRIORITIES])


@api_route("/priority/<ref>")
def priority_detail(ref: str) -> Response:
    priority = _cat().priority(ref)
    if priority is None:
        raise JiraError(404, [f"The priority with id '{ref}' does not exist"])
    return jsonify(priority_json(priority, full=True))


@api_route("/status")
def statuses() -> Response:
    return jsonify([status_json(s) for s in STATUSES])


@api_route("/status/<ref>")
def status_detail(ref: str) -> Response:
    status = _cat().status(ref)
    if status is None:
        raise JiraError(404, [f"The status with id '{ref}' does not exist"])
    return jsonify(status_json(status))


@api_route("/resolution")
def resolutions() -> Response:
    return jsonify([resolution_json(r) for r in RESOLUTIONS])


@api_route("/issueLinkType")
def link_types() -> Response:
    return jsonify(issueLinkTypes=[link_type_json(t) for t in LINK_TYPES])


@api_route("/issueLinkType/<ref>")
def link_type_detail(ref: str) -> Response:
    link_type = _cat().link_type(ref)
    if link_type is None:
        raise JiraError(404, [f"No issue link type with id '{ref}' found."])
    return jsonify(link_type_json(link_type))


@api_route("/issue/createmeta/<ref>/issuetypes")
def createmeta_issue_types(ref: str) -> Response:
    project = _project_or_404(ref)
    values = [issue_type_json(t) for t in _cat().project_issue_types(project)]
    return jsonify(_page(values, _int_arg("startAt", 0), _int_arg("maxResults", 50, 1, 200)))


@api_route("/issue/createmeta/<ref>/issuetypes/<type_id>")
def createmeta_fields(ref: str, type_id: str) -> Response:
    project = _project_or_404(ref)
    issue_type = _cat().issue_type(type_id)
    if issue_type is None or issue_type.id != type_id or issue_type.id not in project.issue_type_ids:
        raise JiraError(404, [f"Issue type with id '{type_id}' does not exist in project '{project.key}'."])
    values = [createmeta_field_json(f, project, issue_type) for f in _cat().screen(project, issue_type)]
    return jsonify(_page(values, _int_arg("startAt", 0), _int_arg("maxResults", 50, 1, 200)))


@api_route("/issue", methods=("POST",))
def create_issue() -> tuple[Response, int]:
    state = _state()
    project, issue_type, draft = validate_create(_json_body(), state.cat, _user(), state.text_limit)
    row = _insert_issue(_db(), project, issue_type, draft, _user())
    _emit_issue_created(row)
    return jsonify({"id": str(row["id"]), "key": row["key"], "self": f"{_api()}/issue/{row['id']}"}), 201


@api_route("/issue/bulk", methods=("POST",))
def create_issues_bulk() -> tuple[Response, int]:
    body = _json_body()
    updates = body.get("issueUpdates") if isinstance(body, dict) else None
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, ["Request must contain a non-empty 'issueUpdates' list."])
    if len(updates) > BULK_LIMIT:
        raise JiraError(400, [f"Bulk create accepts up to {BULK_LIMIT} issues per request."])
    created, errors = [], []
    for index, update in enumerate(updates):
        try:
            project, issue_type, draft = validate_create(update, _cat(), _user(), _state().text_limit)
        except JiraError as exc:
            element = {"errorMessages": exc.messages, "errors": exc.errors}
            errors.append({"status": exc.status, "failedElementNumber": index, "elementErrors": element})
            continue
        row = _insert_issue(_db(), project, issue_type, draft, _user())
        _emit_issue_created(row)
        created.append({"id": str(row["id"]), "key": row["key"], "self": f"{_api()}/issue/{row['id']}"})
    return jsonify(issues=created, errors=errors), (201 if created else 400)


@api_route("/issue/<ref>")
def get_issue(ref: str) -> Response:
    row = _issue_or_404(ref)
    fields = wanted_fields(request.args.getlist("fields") or None)
    return jsonify(issue_json(row, _db(), fields, request.args.get("expand") or ""))


@api_route("/issue/<ref>", methods=("PUT",))
def edit_issue(ref: str) -> tuple[str, int]:
    row = _issue_or_404(ref)
    body = _json_body()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    fields, update = body.get("fields") or {}, body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, ["'fields' and 'update' must be JSON objects."])
    project = _cat().project(row["project_id"])
    assert project is not None
    ctx = FieldContext(_cat(), project, _state().text_limit)
    draft = Draft()
    conn = _db()
    errors = _apply_fields(fields, draft, ctx)
    errors.update(_apply_update_ops(update, row, draft, ctx, conn))
    if errors:
        raise _field_errors(errors)
    _emit_changes(row, _save_changes(conn, row, draft), "issue_updated")
    return "", 204


@api_route("/issue/<ref>", methods=("DELETE",))
def delete_issue(ref: str) -> tuple[str, int]:
    row = _issue_or_404(ref)
    conn = _db()
    last_state = _snapshot("jira:issue_deleted", "issue_deleted", row)
    with transaction(conn):
        for table, column in (("label", "issue_id"), ("comment", "issue_id"), ("attachment", "issue_id"),
                              ("remote_link", "issue_id"), ("issue_link", "inward_id"),
                              ("issue_link", "outward_id"), ("issue", "id")):  # fmt: skip
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (row["id"],))  # noqa: S608
    _emit("jira:issue_deleted", last_state)
    return "", 204


# comments


@api_route("/issue/<ref>/comment")
def list_comments(ref: str) -> Response:
    row = _issue_or_404(ref)
    order = "DESC" if request.args.get("orderBy", "").startswith("-") else "ASC"
    sql = f"SELECT * FROM comment WHERE issue_id = ? ORDER BY id {order}"  # noqa: S608
    rows = _db().execute(sql, (row["id"],)).fetchall()
    start = _int_arg("startAt", 0)
    limit = _int_arg("maxResults", 5000, 0, 5000)
    expand = request.args.get("expand") or ""
    page = [comment_json(c, expand=expand) for c in rows[start : start + limit]]
    return jsonify(startAt=start, maxResults=limit, total=len(rows), comments=page)


@api_route("/issue/<ref>/comment", methods=("POST",))
def add_comment(ref: str) -> tuple[Response, int]:
    row = _issue_or_404(ref)
    body = _json_body()
    extra = _comment_extra(body)
    text = _checked_comment_body(body)
    conn = _db()
    with transaction(conn):
        comment_id = _insert_comment(conn, row["id"], _user(), text, extra)
    comment = conn.execute("SELECT * FROM comment WHERE id = ?", (comment_id,)).fetchone()
    _emit_comment("comment_created", "issue_commented", row["id"], comment)
    return jsonify(comment_json(comment)), 201


def _checked_comment_body(body: Any) -> str:
    try:
        return _comment_body(body.get("body") if isinstance(body, dict) else None, _state().text_limit)
    except FieldInvalid as exc:
        raise _field_errors({"comment": str(exc)})


def _comment_extra(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    extra: dict[str, Any] = {}
    visibility = body.get("visibility")
    if visibility is not None:
        if (
            not isinstance(visibility, dict)
            or visibility.get("type") not in ("role", "group")
            or not visibility.get("value")
        ):
            raise _field_errors(
                {"commentLevel": "You are currently not a member of the project role or group."}
            )
        extra["visibility"] = {"type": visibility["type"], "value": visibility["value"]}
    if isinstance(body.get("properties"), list):
        extra["properties"] = body["properties"]
    return extra


def _comment_or_404(ref: str, comment_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    row = _issue_or_404(ref)
    comment = None
    if comment_id.isdigit():
        comment = (
            _db()
            .execute("SELECT * FROM comment WHERE id = ? AND issue_id = ?", (int(comment_id), row["id"]))
            .fetchone()
        )
    if comment is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    return row, comment


@api_route("/issue/<ref>/comment/<comment_id>")
def get_comment(ref: str, comment_id: str) -> Response:
    _, comment = _comment_or_404(ref, comment_id)
    return jsonify(comment_json(comment, expand=request.args.get("expand") or ""))


@api_route("/issue/<ref>/comment/<comment_id>", methods=("PUT",))
def update_comment(ref: str, comment_id: str) -> Response:
    row, comment = _comment_or_404(ref, comment_id)
    body = _json_body()
    text = _checked_comment_body(body)
    extra = {**json.loads(comment["extra"]), **_comment_extra(body)}
    conn = _db()
    with transaction(conn):
        conn.execute(
            "UPDATE comment SET body = ?, update_author = ?, updated = ?, extra = ? WHERE id = ?",
            (text, _user(), _now(), json.dumps(extra), comment["id"]),
        )
        _touch(conn, row["id"])
    updated = conn.execute("SELECT * FROM comment WHERE id = ?", (comment["id"],)).fetchone()
    _emit_comment("comment_updated", "issue_comment_edited", row["id"], updated)
    return jsonify(comment_json(updated))


@api_route("/issue/<ref>/comment/<comment_id>", methods=("DELETE",))
def delete_comment(ref: str, comment_id: str) -> tuple[str, int]:
    row, comment = _comment_or_404(ref, comment_id)
    conn = _db()
    with transaction(conn):
        conn.execute("DELETE FROM comment WHERE id = ?", (comment["id"],))
    _emit_comment("comment_deleted", "issue_comment_deleted", row["id"], comment)
    return "", 204


# transitions and assignee


@api_route("/issue/<ref>/transitions")
def list_transitions(ref: str) -> Response:
    row = _issue_or_404(ref)
    with_fields = "transitions.fields" in (request.args.get("expand") or "")
    wanted = request.args.get("transitionId")
    found = [t for t in _available(row) if wanted in (None, "", t.id)]
    return jsonify(expand="transitions", transitions=[transition_json(t, with_fields) for t in found])


@api_route("/issue/<ref>/transitions", methods=("POST",))
def do_transition(ref: str) -> tuple[str, int]:
    row = _issue_or_404(ref)
    body = _json_body()
    ident = body.get("transition") if isinstance(body, dict) else None
    if not isinstance(ident, dict) or ident.get("id") in (None, ""):
        raise JiraError(400, ["Missing 'transition' identifier"])
    transition = _pick_transition(row, ident)
    status = _cat().status(transition.to)
    assert status is not None
    draft = _transition_draft(row, body, transition, status)
    _emit_changes(row, _save_changes(_db(), row, draft), "issue_generic")
    log.info("sandbox jira: %s moved to %s", row["key"], status.name)
    return "", 204


def _pick_transition(row: sqlite3.Row, ident: dict[str, Any]) -> Transition:
    """By id only: Jira ignores a transition's name here (the library looks names up first)."""
    found = next((t for t in _available(row) if t.id == str(ident["id"])), None)
    if found is None:
        raise JiraError(400, [f"Transition id '{ident['id']}' is not valid for this issue."])
    return found


def _transition_draft(
    row: sqlite3.Row, body: dict[str, Any], transition: Transition, status: Status
) -> Draft:
    """Status, resolution (Done only; "Done" unless given) and comments added by the transition."""
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, ["'fields' and 'update' must be JSON objects."])
    done = status.category == "done"
    draft = Draft(columns={"status_id": status.id, "resolution_id": None, "resolutiondate": None})
    if done:
        draft.columns.update(resolution_id=DEFAULT_RESOLUTION, resolutiondate=_now())
    errors = {fid: _cannot_set(fid) for fid in [*fields, *update] if fid not in ("resolution", "comment")}
    if "resolution" in fields:
        resolution = _transition_resolution(fields["resolution"]) if done else None
        if resolution is None:
            errors["resolution"] = (
                "The resolution selected is invalid." if done else _cannot_set("resolution")
            )
        else:
            draft.columns["resolution_id"] = resolution.id
    if "comment" in fields:
        errors["comment"] = _cannot_set("comment")
    project = _cat().project(row["project_id"])
    assert project is not None
    ctx = FieldContext(_cat(), project, _state().text_limit)
    comment_ops = {k: v for k, v in update.items() if k == "comment"}
    errors.update(_apply_update_ops(comment_ops, row, draft, ctx, _db()))
    if errors:
        raise _field_errors(errors)
    return draft


def _transition_resolution(value: Any) -> Named | None:
    ref = value.get("id", value.get("name")) if isinstance(value, dict) else None
    return _cat().resolution(ref)


@api_route("/issue/<ref>/assignee", methods=("PUT",))
def assign(ref: str) -> tuple[str, int]:
    row = _issue_or_404(ref)
    body = _json_body()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    project = _cat().project(row["project_id"])
    assert project is not None
    draft = Draft()
    try:
        _set_assignee(body, draft, FieldContext(_cat(), project, _state().text_limit))
    except FieldInvalid as exc:
        raise _field_errors({"assignee": str(exc)})
    _emit_changes(row, _save_changes(_db(), row, draft), "issue_assigned")
    return "", 204


# links


@api_route("/issueLink", methods=("POST",))
def create_link() -> tuple[str, int]:
    body = _json_body()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    link_type = _link_type_from(body.get("type"))
    inward = _linked_issue_from(body.get("inwardIssue"), "inwardIssue")
    outward = _linked_issue_from(body.get("outwardIssue"), "outwardIssue")
    comment = body.get("comment")
    conn = _db()
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO issue_link (type_id, inward_id, outward_id) VALUES (?, ?, ?)",
            (link_type.id, inward["id"], outward["id"]),
        )
        if isinstance(comment, dict) and comment.get("body"):
            _insert_comment(
                conn, outward["id"], _user(), _checked_comment_body(comment), _comment_extra(comment)
            )
        _touch(conn, inward["id"])
        _touch(conn, outward["id"])
    return "", 201


def _link_type_from(ref: Any) -> LinkType:
    if not isinstance(ref, dict) or not (ref.get("id") or ref.get("name")):
        raise JiraError(400, ["Issue link type must be specified by 'id' or 'name'."])
    key = "id" if ref.get("id") else "name"
    link_type = _cat().link_type(ref[key])
    if link_type is None:
        raise JiraError(404, [f"No issue link type with {key} '{ref[key]}' found."])
    return link_type


def _linked_issue_from(ref: Any, role: str) -> sqlite3.Row:
    ident = (ref.get("key") or ref.get("id")) if isinstance(ref, dict) else None
    if not ident:
        raise JiraError(400, [f"'{role}' must be given by 'key' or 'id'."])
    row = _find_issue(_db(), str(ident))
    if row is None:
        raise JiraError(404, [f"Issue Does Not Exist: {ident}"])
    return row


@api_route("/issueLink/<link_id>")
def get_link(link_id: str) -> Response:
    conn = _db()
    link = conn.execute("SELECT * FROM issue_link WHERE id = ?", (link_id,)).fetchone()
    link_type = _cat().link_type(link["type_id"]) if link else None
    inward = _find_issue(conn, str(link["inward_id"])) if link else None
    outward = _find_issue(conn, str(link["outward_id"])) if link else None
    if link is None or link_type is None or inward is None or outward is None:
        raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
    return jsonify(
        {
            "id": str(link["id"]),
            "self": f"{_api()}/issueLink/{link['id']}",
            "type": link_type_json(link_type),
            "inwardIssue": _linked_issue_json(inward),
            "outwardIssue": _linked_issue_json(outward),
        }
    )


@api_route("/issueLink/<link_id>", methods=("DELETE",))
def delete_link(link_id: str) -> tuple[str, int]:
    conn = _db()
    with transaction(conn):
        deleted = conn.execute("DELETE FROM issue_link WHERE id = ?", (link_id,)).rowcount
    if not deleted:
        raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
    return "", 204


def remote_link_json(row: sqlite3.Row, issue_key: str) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    out: dict[str, Any] = {"id": row["id"], "self": f"{_api()}/issue/{issue_key}/remotelink/{row['id']}"}
    if row["global_id"] is not None:
        out["globalId"] = row["global_id"]
    out.update({k: doc[k] for k in ("application", "relationship", "object") if k in doc})
    return out


@api_route("/issue/<ref>/remotelink")
def list_remote_links(ref: str) -> Response:
    row = _issue_or_404(ref)
    global_id = request.args.get("globalId")
    sql, params = "SELECT * FROM remote_link WHERE issue_id = ?", [row["id"]]
    if global_id:
        sql, params = sql + " AND global_id = ?", [*params, global_id]
    rows = _db().execute(sql + " ORDER BY id", params).fetchall()
    if global_id:
        if not rows:
            raise JiraError(404, [f"No remote link with global id '{global_id}' exists on this issue."])
        return jsonify(remote_link_json(rows[0], row["key"]))
    return jsonify([remote_link_json(r, row["key"]) for r in rows])


@api_route("/issue/<ref>/remotelink", methods=("POST",))
def upsert_remote_link(ref: str) -> tuple[Response, int]:
    row = _issue_or_404(ref)
    body = _json_body()
    obj = body.get("object") if isinstance(body, dict) else None
    errors = {}
    if not isinstance(obj, dict) or not obj.get("url"):
        errors["url"] = "'url' is a required field"
    if not isinstance(obj, dict) or not obj.get("title"):
        errors["title"] = "'title' is a required field"
    if errors:
        raise _field_errors(errors)
    assert isinstance(body, dict)
    global_id = body.get("globalId") or None
    doc = json.dumps({k: body[k] for k in ("application", "relationship", "object") if k in body})
    conn = _db()
    with transaction(conn):
        existing = None
        if global_id is not None:
            existing = conn.execute(
                "SELECT id FROM remote_link WHERE issue_id = ? AND global_id = ?", (row["id"], str(global_id))
            ).fetchone()
        if existing is not None:
            conn.execute("UPDATE remote_link SET doc = ? WHERE id = ?", (doc, existing["id"]))
            link_id, status = existing["id"], 200
        else:
            cur = conn.execute(
                "INSERT INTO remote_link (issue_id, global_id, doc) VALUES (?, ?, ?)",
                (row["id"], None if global_id is None else str(global_id), doc),
            )
            link_id, status = int(cur.lastrowid or 0), 201
        _touch(conn, row["id"])
    return jsonify({"id": link_id, "self": f"{_api()}/issue/{row['key']}/remotelink/{link_id}"}), status


@api_route("/issue/<ref>/remotelink/<int:link_id>")
def get_remote_link(ref: str, link_id: int) -> Response:
    row = _issue_or_404(ref)
    link = (
        _db()
        .execute("SELECT * FROM remote_link WHERE id = ? AND issue_id = ?", (link_id, row["id"]))
        .fetchone()
    )
    if link is None:
        raise JiraError(404, [f"No remote link with id '{link_id}' exists on this issue."])
    return jsonify(remote_link_json(link, row["key"]))


@api_route("/issue/<ref>/remotelink/<int:link_id>", methods=("DELETE",))
def delete_remote_link(ref: str, link_id: int) -> tuple[str, int]:
    row = _issue_or_404(ref)
    conn = _db()
    with transaction(conn):
        deleted = conn.execute(
            "DELETE FROM remote_link WHERE id = ? AND issue_id = ?", (link_id, row["id"])
        ).rowcount
    if not deleted:
        raise JiraError(404, [f"No remote link with id '{link_id}' exists on this issue."])
    return "", 204


# the library's add_remote_link() first lists application links; an empty list is an unlinked Jira
@bp.route("/rest/applinks/latest/listApplicationlinks")
def application_links() -> Response:
    return jsonify(list=[])


# attachments

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@api_route("/issue/<ref>/attachments", methods=("POST",))
def add_attachments(ref: str) -> Response:
    if request.headers.get("X-Atlassian-Token", "").lower() not in ("no-check", "nocheck"):
        return Response("XSRF check failed", status=403, mimetype="text/plain")
    row = _issue_or_404(ref)
    files = request.files.getlist("file")
    if not files:
        raise JiraError(400, ["No attachment was found in the 'file' part of the request."])
    limit = _state().attachment_limit
    uploads = []
    for upload in files:
        data = upload.read()
        name = _clean_filename(upload.filename or "attachment")
        if len(data) > limit:
            raise JiraError(413, [f"The file '{name}' is too big: the limit is {limit} bytes."])
        uploads.append((name, _mime_type(name, upload.mimetype), data))
    conn = _db()
    ids = []
    with transaction(conn):
        for name, mime, data in uploads:
            cur = conn.execute(
                "INSERT INTO attachment (issue_id, filename, mime_type, size, author, created, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["id"], name, mime, len(data), _user(), _now(), data),
            )
            ids.append(int(cur.lastrowid or 0))
        _touch(conn, row["id"])
    return jsonify([attachment_json(_attachment_meta(conn, i)) for i in ids])


def _clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable()) or "attachment"


def _mime_type(filename: str, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _attachment_meta(conn: sqlite3.Connection, attachment_id: int | str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT id, issue_id, filename, mime_type, size, author, created FROM attachment WHERE id = ?",
        (attachment_id,),
    ).fetchone()
    if row is None:
        raise JiraError(404, [f"The attachment with id '{attachment_id}' does not exist"])
    return row


@api_route("/attachment/meta")
def attachment_settings() -> Response:
    return jsonify(enabled=True, uploadLimit=_state().attachment_limit)


@api_route("/attachment/<int:attachment_id>")
def get_attachment(attachment_id: int) -> Response:
    return jsonify(attachment_json(_attachment_meta(_db(), attachment_id)))


@api_route("/attachment/<int:attachment_id>", methods=("DELETE",))
def delete_attachment(attachment_id: int) -> tuple[str, int]:
    row = _attachment_meta(_db(), attachment_id)
    conn = _db()
    with transaction(conn):
        conn.execute("DELETE FROM attachment WHERE id = ?", (row["id"],))
    return "", 204


@bp.route("/secure/attachment/<int:attachment_id>/<path:filename>")
@bp.route("/secure/attachment/<int:attachment_id>")
def attachment_content(attachment_id: int, filename: str | None = None) -> Response:
    row = (
        _db()
        .execute("SELECT filename, mime_type, data FROM attachment WHERE id = ?", (attachment_id,))
        .fetchone()
    )
    if row is None:
        return Response("Attachment not found", status=404, mimetype="text/plain")
    inline = row["mime_type"] in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    resp = Response(bytes(row["data"]), mimetype=row["mime_type"] if inline else "application/octet-stream")
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(row['filename'])}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


# search


@api_route("/search", methods=("GET", "POST"))
def search() -> Response:
    params = _search_params()
    ctx = JqlContext(_cat(), _db(), _user(), validate=params["validate"])
    try:
        where, sql_params, order = compile_jql(parse_jql(params["jql"]), ctx)
    except JqlError as exc:
        raise JiraError(400, [str(exc)])
    conn = _db()
    total = conn.execute(f"SELECT COUNT(*) FROM issue i WHERE {where}", sql_params).fetchone()[0]  # noqa: S608
    ids = conn.execute(
        f"SELECT i.id FROM issue i WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
        [*sql_params, params["maxResults"], params["startAt"]],
    ).fetchall()
    fields = wanted_fields(params["fields"], default="*navigable")
    issues = [issue_json(_issue_or_404(str(r[0])), conn, fields, params["expand"]) for r in ids]
    out: dict[str, Any] = {
        "expand": "names,schema",
        "startAt": params["startAt"],
        "maxResults": params["maxResults"],
        "total": total,
        "issues": issues,
    }
    if ctx.warnings:
        out["warningMessages"] = ctx.warnings
    return jsonify(out)


def _search_params() -> dict[str, Any]:
    source: dict[str, Any]
    if request.method == "POST":
        body = _json_body()
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        source = {k: v for k, v in body.items() if v is not None}
        raw = source.get("fields")
        fields = raw if isinstance(raw, list) else ([raw] if raw else None)
    else:
        source = request.args.to_dict()
        fields = request.args.getlist("fields") or None
    try:
        start = max(0, int(source.get("startAt", 0)))
        limit = min(SEARCH_MAX_RESULTS, max(0, int(source.get("maxResults", 50))))
    except (TypeError, ValueError):
        raise JiraError(400, ["'startAt' and 'maxResults' must be numbers."])
    validate = str(source.get("validateQuery", "true")).lower()
    return {
        "jql": str(source.get("jql") or ""),
        "startAt": start,
        "maxResults": limit,
        "fields": fields,
        "expand": str(source.get("expand") or ""),
        "validate": validate not in ("false", "warn", "none"),
    }


# --- HTML pages ------------------------------------------------------------------------------------------

PAGE_SIZE = 100
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; base-uri 'none'"
)


def _html(template: str, status: int = 200, **context: Any) -> Response:
    return common.html_response(render_template(template, **context), status, HTML_CSP)


@dataclass(frozen=True)
class IssueSummary:
    key: str
    summary: str
    status: str
    category: str
    issue_type: str
    created: str
    labels: tuple[str, ...]


@bp.route("/")
def html_index() -> Response:
    conn = _db()
    project = _cat().project(request.args.get("project", "")) if request.args.get("project") else None
    start = _int_arg("startAt", 0)
    where, params = ("WHERE project_id = ?", [project.id]) if project else ("", [])
    total = conn.execute(f"SELECT COUNT(*) FROM issue {where}", params).fetchone()[0]  # noqa: S608
    rows = conn.execute(
        f"SELECT * FROM issue {where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
        [*params, PAGE_SIZE, start],
    ).fetchall()
    issues = [_summary(conn, r) for r in rows]
    return _html(
        "jira/index.html",
        issues=issues,
        projects=_cat().projects,
        project=project,
        total=total,
        start=start,
        page_size=PAGE_SIZE,
    )


def _summary(conn: sqlite3.Connection, row: sqlite3.Row) -> IssueSummary:
    status = _cat().status(row["status_id"])
    issue_type = _cat().issue_type(row["issuetype_id"])
    return IssueSummary(
        key=row["key"],
        summary=row["summary"],
        status=status.name if status else row["status_id"],
        category=status.category if status else "new",
        issue_type=issue_type.name if issue_type else "",
        created=_display_time(row["created"]),
        labels=tuple(_labels(conn, row["id"])),
    )


def _display_time(stamp: str | None) -> str:
    return "" if not stamp else stamp[:16].replace("T", " ") + " UTC"


@bp.route("/browse/<key>")
def html_issue(key: str) -> Response:
    conn = _db()
    row = _find_issue(conn, key)
    if row is None:
        return _html("jira/missing.html", status=404, key=key)
    issue = issue_json(row, conn, list(FIELD_RENDERERS))
    remote = [remote_link_json(r, row["key"]) for r in conn.execute(
        "SELECT * FROM remote_link WHERE issue_id = ? ORDER BY id", (row["id"],))]  # fmt: skip
    return _html(
        "jira/issue.html",
        issue=issue,
        f=issue["fields"],
        custom=[(fd.name, _custom_text(issue["fields"].get(fd.id))) for fd in CUSTOM_FIELDS],
        remote_links=[_remote_view(r) for r in remote],
        display_time=_display_time,
    )


def _custom_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


def _remote_view(link: dict[str, Any]) -> dict[str, str | None]:
    obj = link.get("object") or {}
    url = str(obj.get("url") or "")
    safe = url if urlsplit(url).scheme in ("http", "https") else None
    return {"title": str(obj.get("title") or url), "url": safe, "text": url}


# --- webhooks: registration (Jira Data Center's admin REST API), payloads, delivery -----------------------
#
# Shapes: https://developer.atlassian.com/server/jira/platform/webhooks/ (registration under
# /rest/webhooks/1.0/webhook, payload envelope) and the real payloads in tests/fixtures/jira/.

WEBHOOK_API = "/rest/webhooks/1.0/webhook"
# What the sandbox sends (a webhook may subscribe to any event name; others are simply never sent).
SENT_EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)
# The start-up webhook (``webhook_url``) subscribes to what the hub acts on.
STARTUP_WEBHOOK_EVENTS = ("comment_created", "comment_updated", "jira:issue_updated", "jira:issue_deleted")
STARTUP_WEBHOOK_NAME = "trackerhub (sandbox start-up webhook)"
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_BACKOFF_S = (0.5, 1.0)  # pauses before the 2nd and 3rd try
FLUSH_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_MAX_S = 60.0

Payload = dict[str, Any]


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _register_startup_webhook(store: common.SqliteStore, spec: tuple[str, str | None] | None) -> None:
    """Replace the start-up webhook of an earlier run (if any) with ``spec`` (``(url, secret)``)."""
    conn = store.connect()
    try:
        with transaction(conn):
            conn.execute("DELETE FROM webhook WHERE origin = 'startup'")
            if spec is not None:
                url, secret = spec
                conn.execute(
                    "INSERT INTO webhook (name, url, events, secret, origin, updated_by, updated_at) "
                    "VALUES (?, ?, ?, ?, 'startup', 'admin', ?)",
                    (STARTUP_WEBHOOK_NAME, url, json.dumps(STARTUP_WEBHOOK_EVENTS), secret, _millis()),
                )
    finally:
        conn.close()


def _millis() -> int:
    return int(time.time() * 1000)


def webhook_json(row: sqlite3.Row) -> dict[str, Any]:
    """A registered webhook as Jira lists it (the secret is never shown)."""
    user = _cat().user(row["updated_by"])
    return {
        "self": f"{_base()}{WEBHOOK_API}/{row['id']}",
        "name": row["name"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "filters": {},
        "excludeBody": False,
        "enabled": bool(row["enabled"]),
        "lastUpdatedUser": row["updated_by"],
        "lastUpdatedDisplayName": user.display_name if user else row["updated_by"],
        "lastUpdated": row["updated_at"],
    }


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    url: str
    events: list[str]
    secret: str | None
    enabled: bool


def _webhook_spec(body: Any) -> WebhookSpec:
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    errors: dict[str, str] = {}
    name, url, events = body.get("name"), body.get("url"), body.get("events", [])
    secret, enabled = body.get("secret"), body.get("enabled", True)
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "The webhook needs a name."
    if not _http_url(url):
        errors["url"] = "The URL must be an absolute http or https URL."
    if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
        errors["events"] = "Events must be a list of event names."
    if secret is not None and not isinstance(secret, str):
        errors["secret"] = "The secret must be a string."  # noqa: S105 - a message, not a password
    if not isinstance(enabled, bool):
        errors["enabled"] = "'enabled' must be true or false."
    if errors:
        raise _field_errors(errors)
    return WebhookSpec(str(name).strip(), str(url), list(dict.fromkeys(events)), secret or None, enabled)


def _webhook_or_404(webhook_id: int) -> sqlite3.Row:
    row = _db().execute("SELECT * FROM webhook WHERE id = ?", (webhook_id,)).fetchone()
    if row is None:
        raise JiraError(404, [f"Webhook with id {webhook_id} does not exist."])
    return row


@bp.route(WEBHOOK_API, methods=["POST"])
def register_webhook() -> tuple[Response, int]:
    spec = _webhook_spec(_json_body())
    conn = _db()
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO webhook (name, url, events, secret, enabled, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (spec.name, spec.url, json.dumps(spec.events), spec.secret, spec.enabled, _user(), _millis()),
        )
    row = _webhook_or_404(int(cur.lastrowid or 0))
    log.info("sandbox jira: webhook %s registered for %s -> %s", row["id"], spec.events, spec.url)
    resp = jsonify(webhook_json(row))
    resp.headers["Location"] = f"{_base()}{WEBHOOK_API}/{row['id']}"
    return resp, 201


@bp.route(WEBHOOK_API)
def list_webhooks() -> Response:
    rows = _db().execute("SELECT * FROM webhook ORDER BY id").fetchall()
    return jsonify([webhook_json(r) for r in rows])


@bp.route(WEBHOOK_API + "/<int:webhook_id>")
def get_webhook(webhook_id: int) -> Response:
    return jsonify(webhook_json(_webhook_or_404(webhook_id)))


@bp.route(WEBHOOK_API + "/<int:webhook_id>", methods=["PUT"])
def update_webhook(webhook_id: int) -> Response:
    row = _webhook_or_404(webhook_id)
    body = _json_body()
    spec = _webhook_spec(body)
    # no "secret": keep the one set before
    events, secret = json.dumps(spec.events), spec.secret if "secret" in body else row["secret"]
    conn = _db()
    with transaction(conn):
        conn.execute(
            "UPDATE webhook SET name = ?, url = ?, events = ?, secret = ?, enabled = ?, updated_by = ?, "
            "updated_at = ? WHERE id = ?",
            (spec.name, spec.url, events, secret, spec.enabled, _user(), _millis(), webhook_id),
        )
    return jsonify(webhook_json(_webhook_or_404(webhook_id)))


@bp.route(WEBHOOK_API + "/<int:webhook_id>", methods=["DELETE"])
def delete_webhook(webhook_id: int) -> tuple[str, int]:
    _webhook_or_404(webhook_id)
    conn = _db()
    with transaction(conn):
        conn.execute("DELETE FROM webhook WHERE id = ?", (webhook_id,))
    return "", 204


@bp.route(common.CONTROL_PREFIX + "/webhook-deliveries")
def webhook_deliveries() -> Response:
    """Every delivery (oldest first): event, url, status, attempts, identifier, state, error."""
    return jsonify(_state().webhooks.deliveries())


@bp.route(common.CONTROL_PREFIX + "/webhook-deliveries", methods=["DELETE"])
def forget_webhook_deliveries() -> tuple[str, int]:
    _state().webhooks.forget()
    return "", 204


@bp.route(common.CONTROL_PREFIX + "/webhooks/flush", methods=["POST"])
def flush_webhooks() -> tuple[Response, int]:
    """Wait (``?timeout=`` seconds, default 10, at most 60) until no delivery is queued or in flight:
    200 when done, 504 when some still are."""
    timeout = request.args.get("timeout", FLUSH_TIMEOUT_S, type=float)
    sender = _state().webhooks
    flushed = sender.flush(max(0.0, min(FLUSH_TIMEOUT_MAX_S, timeout)))
    return jsonify(flushed=flushed, pending=sender.pending), (200 if flushed else 504)


def _subscribed(event: str) -> list[sqlite3.Row]:
    rows = _db().execute("SELECT * FROM webhook WHERE enabled = 1 ORDER BY id").fetchall()
    return [r for r in rows if event in json.loads(r["events"])]


def _event_fields(
    type_name: str | None,
    issue: sqlite3.Row | None,
    *,
    changelog: dict[str, Any] | None = None,
    comment: sqlite3.Row | None = None,
) -> Payload:
    """The payload after ``timestamp`` and ``webhookEvent``, in the order Jira writes it."""
    out: Payload = {}
    if type_name is not None:
        out["issue_event_type_name"] = type_name
    out["user"] = user_json(_user())
    if issue is not None:
        out["issue"] = issue_json(issue, _db(), wanted_fields(None))
    if changelog is not None:
        out["changelog"] = changelog
    if comment is not None:
        out["comment"] = comment_json(comment)
    return out


def _emit(event: str, fields: Callable[[], Payload] | Payload | None) -> None:
    """Queue ``event`` to every enabled webhook subscribed to it (call after the change is committed).

    ``fields`` is built only when someone listens; each delivery gets its own identifier.
    """
    if fields is None:
        return
    hooks = _subscribed(event)
    if not hooks:
        return
    payload = {"timestamp": _millis(), "webhookEvent": event, **(fields() if callable(fields) else fields)}
    body = json.dumps(payload, ensure_ascii=False).encode()
    for hook in hooks:
        identifier = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Atlassian HttpClient (sandbox Jira {'.'.join(map(str, SERVER_VERSION))})",
            "X-Atlassian-Webhook-Identifier": identifier,
        }
        if hook["secret"]:
            headers["X-Hub-Signature"] = common.hub_signature(hook["secret"], body)
        _state().webhooks.send(event, hook["url"], body, headers, identifier)


def _snapshot(event: str, type_name: str, issue: sqlite3.Row) -> Payload | None:
    """The payload of an event about something about to disappear, taken while it is there."""
    return _event_fields(type_name, issue) if _subscribed(event) else None


def _emit_issue_created(row: sqlite3.Row) -> None:
    _emit("jira:issue_created", partial(_event_fields, "issue_created", row))


def _emit_comment(event: str, type_name: str, issue_id: int, comment: sqlite3.Row) -> None:
    """``comment_*`` and, as Data Center does, the same comment again as ``jira:issue_updated``."""
    issue = _find_issue(_db(), str(issue_id))
    if issue is None:
        return
    _emit(event, partial(_event_fields, None, issue, comment=comment))
    _emit("jira:issue_updated", partial(_event_fields, type_name, issue, comment=comment))


@dataclass(frozen=True)
class Change:
    """What an edit, transition or assignment wrote: its changelog (if a field changed), new comments."""

    changelog: dict[str, Any] | None
    comment_ids: list[int]


def _save_changes(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft) -> Change:
    """Write ``draft`` and its changelog in one transaction."""
    items = _history_items(conn, row, draft)
    changelog = None
    with transaction(conn):
        comment_ids = _save_draft(conn, row, draft, _user())
        if items:
            cur = conn.execute(
                "INSERT INTO changelog (issue_id, author, created, items) VALUES (?, ?, ?, ?)",
                (row["id"], _user(), _now(), json.dumps(items)),
            )
            changelog = {"id": str(cur.lastrowid), "items": items}
    return Change(changelog, comment_ids)


def _emit_changes(row: sqlite3.Row, change: Change, type_name: str) -> None:
    """``comment_created`` per new comment; one ``jira:issue_updated`` with the changelog (and the
    comment a transition added), or, with no field changed, one ``issue_commented`` per comment."""
    conn = _db()
    issue = _find_issue(conn, str(row["id"]))
    if issue is None:
        return
    comments = [
        c
        for cid in change.comment_ids
        if (c := conn.execute("SELECT * FROM comment WHERE id = ?", (cid,)).fetchone()) is not None
    ]
    for comment in comments:
        _emit("comment_created", partial(_event_fields, None, issue, comment=comment))
    if change.changelog is not None:
        last = comments[-1] if comments else None
        _emit(
            "jira:issue_updated",
            partial(_event_fields, type_name, issue, changelog=change.changelog, comment=last),
        )
        return
    for comment in comments:
        _emit("jira:issue_updated", partial(_event_fields, "issue_commented", issue, comment=comment))


def _history_item(
    name: str, old: Any, old_text: str | None, new: Any, new_text: str | None, *, custom: bool = False
) -> dict[str, Any]:
    return {
        "field": name,
        "fieldtype": "custom" if custom else "jira",
        "from": None if old is None else str(old),
        "fromString": old_text,
        "to": None if new is None else str(new),
        "toString": new_text,
    }


def _display_name(name: str | None) -> str | None:
    user = _cat().user(name) if name is not None else None
    return user.display_name if user is not None else name


def _history_items(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft) -> list[dict[str, Any]]:
    """Jira's changelog items for what ``draft`` changes in ``row`` (nothing for unchanged values)."""
    cat, cols = _cat(), draft.columns
    items: list[dict[str, Any]] = []

    def changed(column: str) -> bool:
        return column in cols and cols[column] != row[column]

    named: tuple[tuple[str, str, Callable[[object], Any]], ...] = (
        ("resolution", "resolution_id", cat.resolution),
        ("priority", "priority_id", cat.priority),
        ("status", "status_id", cat.status),
    )
    for name, column, find in named:
        if changed(column):
            old, new = find(row[column]), find(cols[column])
            old_text, new_text = (old.name if old else None), (new.name if new else None)
            items.append(_history_item(name, row[column], old_text, cols[column], new_text))
    for column in ("assignee", "reporter"):
        if changed(column):
            old_name, new_name = row[column], cols[column]
            items.append(
                _history_item(column, old_name, _display_name(old_name), new_name, _display_name(new_name))
            )
    if changed("summary"):
        items.append(_history_item("summary", None, row["summary"], None, cols["summary"]))
    if draft.labels is not None:
        old_labels = _labels(conn, row["id"])
        if sorted(draft.labels) != old_labels:
            items.append(_history_item("labels", None, " ".join(old_labels), None, " ".join(draft.labels)))
    doc = json.loads(row["doc"])
    project = cat.project(row["project_id"])
    for key, value in draft.doc.items():
        old = doc.get(key)
        if value == old:
            continue
        fdef = cat.fields.get(key)
        custom = bool(fdef and fdef.custom)
        name = fdef.name if fdef is not None and custom else ("Component" if key == "components" else key)
        if key in ("description", "summary"):
            items.append(_history_item(name, None, old, None, value))
        else:
            old_text, new_text = _doc_text(fdef, old, project), _doc_text(fdef, value, project)
            old_raw = ",".join(old) if isinstance(old, list) else old
            new_raw = ",".join(value) if isinstance(value, list) else value
            items.append(_history_item(name, old_raw, old_text, new_raw, new_text, custom=custom))
    return items


def _doc_text(fdef: FieldDef | None, value: Any, project: Project | None) -> str | None:
    """How a changelog item shows a stored value: option and component names rather than ids."""
    if value is None:
        return None
    if isinstance(value, list):
        names = {c.id: c.name for c in project.components} if project else {}
        return ", ".join(names.get(str(v), str(v)) for v in value)
    if fdef is not None and fdef.options:
        return next((o.name for o in fdef.options if o.id == value), str(value))
    return str(value)


# --- app factory and servers -----------------------------------------------------------------------------


def create_sandbox_app(
    db_path: str | Path,
    *,
    base_url: str | None = None,
    latency_ms: int = 0,
    token: str | None = None,
    extra_projects: Iterable[str] = (),
    extra_users: Iterable[str] = (),
    text_limit: int = TEXT_LIMIT,
    attachment_limit: int = ATTACHMENT_LIMIT,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Flask:
    """The sandbox as a Flask app on the SQLite file ``db_path`` (created if missing, kept across restarts).

    ``base_url`` fixes the URLs in answers (default: the request's own root); ``latency_ms`` delays
    every tracker request; ``token``, when set, is the only Bearer token (or Basic password) accepted;
    ``extra_projects`` adds projects given as ``"KEY"`` or ``"KEY:Name"``; ``extra_users`` adds users.
    ``webhook_url`` registers a webhook for ``STARTUP_WEBHOOK_EVENTS`` (signed with ``webhook_secret``
    when given), replacing the start-up webhook of an earlier run on the same file.
    """
    if webhook_url is not None and not _http_url(webhook_url):
        raise ValueError(f"webhook_url must be an http or https URL, not {webhook_url!r}")
    store = Store(db_path)
    startup_webhook = (webhook_url, webhook_secret or None) if webhook_url else None
    _register_startup_webhook(store, startup_webhook)
    state = SandboxState(
        store=store,
        cat=Catalogue(extra_projects, extra_users),
        faults=common.FaultBook("jira", _fault_answer, log=log, latency_ms=latency_ms),
        stats=common.Stats(),
        base_url=base_url.rstrip("/") if base_url else None,
        token=token,
        text_limit=text_limit,
        attachment_limit=attachment_limit,
        webhooks=common.WebhookSender("jira", log=log, timeout=WEBHOOK_TIMEOUT_S, backoff=WEBHOOK_BACKOFF_S),
        startup_webhook=startup_webhook,
    )
    return common.sandbox_app(
        __name__,
        extension=EXTENSION,
        state=state,
        blueprint=bp,
        max_content_length=attachment_limit * 4 + 1024 * 1024,
        before=_before_request,
        after=_after_request,
        http_error=_handle_http_error,
        unexpected=_handle_unexpected,
    )


def make_sandbox_server(
    host: str = "127.0.0.1", port: int = 0, *, db_path: str | Path, **app_kwargs: Any
) -> BaseWSGIServer:
    """A threaded server; ``port=0`` picks a free port (``server.server_port``).

    Run it with ``serve_forever()`` (in a thread for tests) and stop it with ``shutdown()``.
    ``app_kwargs`` go to ``create_sandbox_app``.
    """
    return common.threaded_server(create_sandbox_app(db_path, **app_kwargs), host, port)


def run_in_thread(
    db_path: str | Path, host: str = "127.0.0.1", port: int = 0, **app_kwargs: Any
) -> RunningSandbox:
    """Start the sandbox on a free port in a daemon thread (for tests and benchmarks)."""
    return RunningSandbox.start(
        make_sandbox_server(host, port, db_path=db_path, **app_kwargs), "sandbox-jira"
    )


def serve(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, db_path: str | Path = DEFAULT_DB, **app_kwargs: Any
) -> None:
    """Serve until interrupted (``trackerhub up`` runs it in its own process)."""
    server = make_sandbox_server(host, port, db_path=db_path, **app_kwargs)
    common.serve_until_interrupted(server, db_path, log=log, name="jira")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.jira [--host H] [--port P] [--db FILE] ...``."""
    parser = common.arg_parser("Run the trackerhub sandbox Jira.", port=DEFAULT_PORT, db=DEFAULT_DB)
    parser.add_argument("--base-url", default=None, help="public URL to put in answers")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every tracker request")
    parser.add_argument(
        "--projects",
        default=os.environ.get("SANDBOX_JIRA_PROJECTS", ""),
        help="extra projects, e.g. 'OPS:Operations,HR' (env SANDBOX_JIRA_PROJECTS)",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("SANDBOX_JIRA_WEBHOOK_URL") or None,
        help="send comment and issue webhooks here, e.g. http://127.0.0.1:8000/hooks/jira "
        "(env SANDBOX_JIRA_WEBHOOK_URL)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SANDBOX_JIRA_WEBHOOK_SECRET") or None,
        help="sign them with X-Hub-Signature (env SANDBOX_JIRA_WEBHOOK_SECRET, which keeps it out of ps)",
    )
    args = parser.parse_args(argv)
    if args.webhook_url is not None and not _http_url(args.webhook_url):
        parser.error("--webhook-url must be an http or https URL")
    common.configure_logging()
    projects = [p for p in args.projects.split(",") if p.strip()]
    serve(
        args.host,
        args.port,
        args.db,
        base_url=args.base_url,
        latency_ms=args.latency_ms,
        extra_projects=projects,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
