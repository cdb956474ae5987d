"""The Jira look-alike's SQLite schema and the writes several views share: issues (numbered per
project, found by their current key or one they had before a move), labels, comments, the start-up
webhook."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sandbox.jira.catalogue import INITIAL_STATUS, IssueType, Project
from sandbox.store import SqliteStore, millis_stamp, transaction

log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS moved_key (old_key TEXT PRIMARY KEY, issue_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bulk_task (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  status TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  polls INTEGER NOT NULL DEFAULT 0,
  payload TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS watcher (
  issue_id INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  PRIMARY KEY (issue_id, user_name)
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
ID_TABLES = ("issue", "comment", "attachment", "issue_link", "remote_link", "changelog", "bulk_task")
DATA_TABLES = (*ID_TABLES, "label", "project_counter", "moved_key", "webhook")
FIRST_ID = 10000


def stamp_now() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2024-01-15T10:20:30.123+0000``."""
    return millis_stamp(moment, "+0000")


class Store(SqliteStore):
    """The SQLite file: schema, connections and transactions."""

    schema = SCHEMA
    # ids start at 10000, as on a fresh Jira; webhooks are numbered from 1
    first_ids: ClassVar[Mapping[str, int]] = {**dict.fromkeys(ID_TABLES, FIRST_ID), "webhook": 1}
    data_tables = DATA_TABLES


def find_issue(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    """An issue by id or key; a key it had before a move finds it too, as on Jira."""
    ref = ref.strip()
    if ref.isdigit():
        return conn.execute("SELECT * FROM issue WHERE id = ?", (int(ref),)).fetchone()
    row = conn.execute("SELECT * FROM issue WHERE key = ?", (ref.upper(),)).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT i.* FROM moved_key m JOIN issue i ON i.id = m.issue_id WHERE m.old_key = ?",
            (ref.upper(),),
        ).fetchone()
    return row


def issue_labels(conn: sqlite3.Connection, issue_id: int) -> list[str]:
    rows = conn.execute("SELECT label FROM label WHERE issue_id = ? ORDER BY label", (issue_id,))
    return [r[0] for r in rows]


def store_labels(conn: sqlite3.Connection, issue_id: int, labels: Iterable[str]) -> None:
    conn.execute("DELETE FROM label WHERE issue_id = ?", (issue_id,))
    conn.executemany("INSERT OR IGNORE INTO label VALUES (?, ?)", [(issue_id, x) for x in labels])


def insert_comment(
    conn: sqlite3.Connection, issue_id: int, author: str, body: str, extra: dict[str, Any]
) -> int:
    now = stamp_now()
    cur = conn.execute(
        "INSERT INTO comment (issue_id, author, update_author, body, created, updated, extra) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (issue_id, author, author, body, now, now, json.dumps(extra)),
    )
    touch_issue(conn, issue_id)
    return int(cur.lastrowid or 0)


def touch_issue(conn: sqlite3.Connection, issue_id: int) -> None:
    conn.execute("UPDATE issue SET updated = ? WHERE id = ?", (stamp_now(), issue_id))


@dataclass
class Draft:
    """Validated values, ready to store."""

    columns: dict[str, Any] = field(default_factory=dict)
    doc: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    comments: list[str] = field(default_factory=list)


def next_number(conn: sqlite3.Connection, project_id: str) -> int:
    """The next issue number of a project (inside the caller's transaction)."""
    return int(
        conn.execute(
            "INSERT INTO project_counter VALUES (?, 1) "
            "ON CONFLICT (project_id) DO UPDATE SET last_num = last_num + 1 RETURNING last_num",
            (project_id,),
        ).fetchone()[0]
    )


def insert_issue(
    conn: sqlite3.Connection, project: Project, issue_type: IssueType, draft: Draft, user: str
) -> sqlite3.Row:
    now = stamp_now()
    with transaction(conn):
        num = next_number(conn, project.id)
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
        store_labels(conn, issue_id, draft.labels or [])
    log.info("sandbox jira: created %s (id %s)", key, issue_id)
    return conn.execute("SELECT * FROM issue WHERE id = ?", (issue_id,)).fetchone()


def save_draft(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft, user: str) -> list[int]:
    """Write an edit inside the caller's transaction; the ids of the comments it added."""
    cols = dict(draft.columns)
    if draft.doc:
        cols["doc"] = json.dumps({**json.loads(row["doc"]), **draft.doc})
    cols["updated"] = stamp_now()
    assignments = ", ".join(f"{name} = ?" for name in cols)
    conn.execute(f"UPDATE issue SET {assignments} WHERE id = ?", (*cols.values(), row["id"]))  # noqa: S608
    if draft.labels is not None:
        store_labels(conn, row["id"], draft.labels)
    return [insert_comment(conn, row["id"], user, body, {}) for body in draft.comments]


# The start-up webhook (``webhook_url``) subscribes to what the hub acts on.
STARTUP_WEBHOOK_EVENTS = ("comment_created", "comment_updated", "jira:issue_updated", "jira:issue_deleted")
STARTUP_WEBHOOK_NAME = "trackerhub (sandbox start-up webhook)"


def register_startup_webhook(store: SqliteStore, spec: tuple[str, str | None] | None) -> None:
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
                    (STARTUP_WEBHOOK_NAME, url, json.dumps(STARTUP_WEBHOOK_EVENTS), secret, millis_now()),
                )
    finally:
        conn.close()


def millis_now() -> int:
    return int(time.time() * 1000)
