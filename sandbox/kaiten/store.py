"""The Kaiten look-alike's SQLite schema: cards, tags, members, comments, files, links, children,
checklists with their items, external links; and the time comparison list filters use."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sandbox.store import SqliteStore, millis_stamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS card (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  board_id INTEGER NOT NULL,
  column_id INTEGER NOT NULL,
  lane_id INTEGER NOT NULL,
  type_id INTEGER NOT NULL,
  owner_id INTEGER NOT NULL,
  asap INTEGER NOT NULL DEFAULT 0,
  due_date TEXT,
  due_date_time_present INTEGER NOT NULL DEFAULT 0,
  expires_later INTEGER NOT NULL DEFAULT 0,
  size_text TEXT,
  external_id TEXT,
  properties TEXT NOT NULL DEFAULT '{}',
  condition INTEGER NOT NULL DEFAULT 1,
  sort_order REAL NOT NULL DEFAULT 1,
  text_format_type_id INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  last_moved_at TEXT,
  last_moved_to_done_at TEXT
);
CREATE INDEX IF NOT EXISTS card_external ON card (external_id);
CREATE TABLE IF NOT EXISTS tag (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  color INTEGER NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS card_tag (
  card_id INTEGER NOT NULL,
  tag_id INTEGER NOT NULL,
  PRIMARY KEY (card_id, tag_id)
);
CREATE TABLE IF NOT EXISTS member (
  card_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  type INTEGER NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (card_id, user_id)
);
CREATE TABLE IF NOT EXISTS comment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  author_id INTEGER NOT NULL,
  edited INTEGER NOT NULL DEFAULT 0,
  internal INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comment_card ON comment (card_id);
CREATE TABLE IF NOT EXISTS file (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  size INTEGER NOT NULL,
  mime_type TEXT NOT NULL,
  author_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_card ON file (card_id);
CREATE TABLE IF NOT EXISTS file_link (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  type INTEGER NOT NULL,
  author_id INTEGER NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS child (
  parent_id INTEGER NOT NULL,
  child_id INTEGER NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);
CREATE TABLE IF NOT EXISTS checklist (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  sort_order REAL NOT NULL,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checklist_card ON checklist (card_id);
CREATE TABLE IF NOT EXISTS checklist_item (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  checklist_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  sort_order REAL NOT NULL,
  checked INTEGER NOT NULL DEFAULT 0,
  checker_id INTEGER,
  checked_at TEXT,
  user_id INTEGER NOT NULL,
  responsible_id INTEGER,
  due_date TEXT,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checklist_item_list ON checklist_item (checklist_id);
CREATE TABLE IF NOT EXISTS external_link (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  card_id INTEGER NOT NULL,
  url TEXT NOT NULL,
  description TEXT,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS external_link_card ON external_link (card_id);
"""
FIRST_IDS = {
    "card": 1001,
    "tag": 301,
    "comment": 5001,
    "file": 7001,
    "file_link": 8001,
    "checklist": 2001,
    "checklist_item": 2501,
    "external_link": 6001,
}
DATA_TABLES = (
    "card",
    "tag",
    "card_tag",
    "member",
    "comment",
    "file",
    "file_link",
    "child",
    "checklist",
    "checklist_item",
    "external_link",
)


def stamp_now() -> str:
    """Kaiten's timestamp format: ``2024-10-14T10:48:16.594Z``."""
    return millis_stamp(datetime.now(UTC), "Z")


def utc_stamp(value: str | None) -> str | None:
    """An ISO 8601 date or time as Kaiten's UTC stamp (a date is its midnight UTC; no zone is UTC), so
    times written differently compare as text; None for what is not a time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return millis_stamp(moment, "Z")


class Store(SqliteStore):
    """The SQLite file: schema, connections, wipe; SQL gets ``utc_stamp`` to compare times."""

    schema = SCHEMA
    first_ids = FIRST_IDS
    data_tables = DATA_TABLES

    def connect(self) -> sqlite3.Connection:
        conn = super().connect()
        conn.create_function("utc_stamp", 1, utc_stamp, deterministic=True)
        return conn
