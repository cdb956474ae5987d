"""Database engine and schema: the message journal, conversation links, mail ids, outbound log, and
routing requests with their audit.

SQLite (the embedded default, under ``var/``) and PostgreSQL both work. The tables here are the schema
at the newest revision of store/migrations/ (Alembic); an engine is made only after its database has been
brought there (store/migrate.py). A change here needs a new revision (store/migrations/README.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.migrate import upgrade_to_head

if TYPE_CHECKING:
    from sqlalchemy.dialects.sqlite import Insert

metadata = sa.MetaData()


class String(sa.types.TypeDecorator[str]):
    """``VARCHAR(n)`` that PostgreSQL accepts whatever the text: its text types cannot hold NUL, so a NUL
    (which customer text can carry) is stored there as U+FFFD instead of failing the write. SQLite keeps
    the NUL as before."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is not None and "\x00" in value and dialect.name == "postgresql":
            return value.replace("\x00", "\ufffd")
        return value


class Text(String):
    """``TEXT``, with :class:`String`'s NUL rule."""

    impl = sa.Text
    cache_ok = True


messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", String(32), primary_key=True),
    sa.Column("channel", String(16), nullable=False),
    sa.Column("external_id", String(255), nullable=False),
    sa.Column("conversation_key", String(255), nullable=False),
    sa.Column("kind", String(16), nullable=False),
    sa.Column("status", String(16), nullable=False),  # queued / delivered / ignored / failed
    sa.Column("reason", Text, nullable=True),
    sa.Column("body", Text, nullable=False),  # the InboundMessage as JSON
    sa.Column("raw_blob_id", String(64), nullable=True),
    sa.Column("tracker", String(16), nullable=True),
    sa.Column("issue_key", String(64), nullable=True),
    sa.Column("issue_url", String(512), nullable=True),
    sa.Column("outcome", String(16), nullable=True),  # issue / comment
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("create_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    sa.Index("ix_messages_status_next", "status", "next_attempt_at"),
    sa.Index("ix_messages_conversation_status", "conversation_key", "status"),
    sa.Index("ix_messages_created_at", "created_at"),  # the console's dashboard and lists (0008)
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("id", String(64), primary_key=True),  # sha256 hex of the content
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_key", String(255), nullable=False),
    sa.Column("tracker", String(16), nullable=False),
    sa.Column("issue_key", String(64), nullable=False),
    sa.Column("issue_url", String(512), nullable=False),
    sa.Column("channel", String(16), nullable=False),
    sa.Column("requester_name", String(255), nullable=False, default=""),
    sa.Column("requester_email", String(320), nullable=True),
    sa.Column("telegram_chat_id", sa.BigInteger, nullable=True),
    sa.Column("telegram_thread_id", sa.BigInteger, nullable=True),
    sa.Column("language", String(16), nullable=True),
    sa.Column("subject", Text, nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("previous_issue_key", String(64), nullable=True),
    sa.Column("message_id", String(32), nullable=False),  # the message that opened the issue
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_links_conversation_active", "conversation_key", "active"),
    sa.Index("ix_links_issue_key", "issue_key"),
)

mail_ids = sa.Table(
    "mail_ids",
    metadata,
    sa.Column("message_id", String(998), primary_key=True),  # RFC 5322 line limit
    sa.Column("link_id", sa.Integer, nullable=False),
    sa.Column("direction", String(8), nullable=False),  # in / out
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

outbound = sa.Table(
    "outbound",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", String(32), nullable=False),
    sa.Column("kind", String(96), nullable=False),  # autoreply / reply:<tracker>:<comment> / notify:…
    sa.Column("channel", String(16), nullable=False),
    sa.Column("recipient", String(320), nullable=False),
    sa.Column("status", String(16), nullable=False),  # sent / skipped / failed
    sa.Column("reason", Text, nullable=True),
    sa.Column("external_ref", String(998), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("message_id", "kind", name="uq_outbound_message_kind"),
)


# issue 13: routing requests (one per coordinator's click, API call or CLI run) and their audit
route_requests = sa.Table(
    "route_requests",
    metadata,
    sa.Column("id", String(32), primary_key=True),
    sa.Column("route", String(64), nullable=False),
    sa.Column("source_tracker", String(16), nullable=False),
    sa.Column("source_key", String(64), nullable=False),
    # "<tracker>:<key>" while the request is queued/running/needs_input, NULL after: one live request
    # per source issue (NULLs do not collide in a unique index, on SQLite and PostgreSQL alike)
    sa.Column("active_key", String(96), nullable=True),
    sa.Column("status", String(16), nullable=False),  # queued / running / done / failed / needs_input
    sa.Column("requested_by", String(255), nullable=False),
    sa.Column("via", String(16), nullable=False),  # page / api / cli / bot
    sa.Column("supplied", Text, nullable=False),  # the fields the requester gave, as JSON
    sa.Column("target_tracker", String(16), nullable=True),
    sa.Column("target_key", String(64), nullable=True),
    sa.Column("target_url", String(512), nullable=True),
    sa.Column("reason", Text, nullable=True),
    sa.Column("steps", Text, nullable=False),  # the steps done, as a JSON object step → result
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("active_key", name="uq_route_requests_active_key"),
    sa.Index("ix_route_requests_source", "source_tracker", "source_key", "route"),
    sa.Index("ix_route_requests_status_lease", "status", "lease_until"),
)

route_audit = sa.Table(
    "route_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", String(255), nullable=False),
    sa.Column("via", String(16), nullable=False),
    sa.Column("route", String(64), nullable=False),
    sa.Column("source_tracker", String(16), nullable=False),
    sa.Column("source_key", String(64), nullable=False),
    sa.Column("target_tracker", String(16), nullable=True),
    sa.Column("target_key", String(64), nullable=True),
    sa.Column("field_values", Text, nullable=False),  # JSON: field name → value shown
    sa.Column("result", String(16), nullable=False),  # requested / done / failed
    sa.Column("reason", Text, nullable=True),
    sa.Index("ix_route_audit_at", "at"),
    sa.Index("ix_route_audit_source", "source_key"),
)

# Automations (issue 14, store/automations.py): one row per firing of a rule on an issue at an occurrence
# (a due time, an event id, a date), written before any of its actions runs.
automation_firings = sa.Table(
    "automation_firings",
    metadata,
    sa.Column("id", String(32), primary_key=True),  # derived from (rule, issue, occurrence)
    sa.Column("rule", String(100), nullable=False),
    sa.Column("tracker", String(64), nullable=False),
    sa.Column("issue_key", String(64), nullable=False),  # "*" for a rule-wide firing (a digest)
    sa.Column("occurrence", String(128), nullable=False),
    sa.Column("status", String(16), nullable=False),  # pending / running / done / failed
    sa.Column("actions_done", Text, nullable=False),  # JSON: action index → what it did
    sa.Column("payload", Text, nullable=False),  # JSON: what the scan saw (a digest's issues, an event)
    sa.Column("error", Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("rule", "issue_key", "occurrence", name="uq_automation_firings_key"),
    sa.Index("ix_automation_firings_status_next", "status", "next_attempt_at"),
    sa.Index("ix_automation_firings_issue", "issue_key"),
    sa.Index("ix_automation_firings_rule_created", "rule", "created_at"),
    sa.Index("ix_automation_firings_created", "created_at"),  # the console's firings, newest first (0008)
)

# A scheduled rule's last fired due time, so downtime fires the latest due occurrence once.
automation_schedules = sa.Table(
    "automation_schedules",
    metadata,
    sa.Column("rule", String(100), primary_key=True),
    sa.Column("last_due", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The team bot (issue 15, store/staff.py): Telegram users linked to tracker accounts, and the one-time
# invites (their code's SHA-256, never the code) that link them.
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("telegram_user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tracker", String(64), nullable=False),
    sa.Column("account", String(255), nullable=False),  # a Jira username / account id, a Kaiten user id
    sa.Column("name", String(255), nullable=False),  # the Telegram name, as shown to the team
    sa.Column("username", String(64), nullable=True),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("tracker", "account", name="uq_staff_account"),
)

staff_invites = sa.Table(
    "staff_invites",
    metadata,
    sa.Column("code_sha256", String(64), primary_key=True),
    sa.Column("tracker", String(64), nullable=False),
    sa.Column("account", String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("used_by", sa.BigInteger, nullable=True),
)

# A new issue's card in a team chat; ``taken_by`` is set once, by the first Take (one wins).
staff_cards = sa.Table(
    "staff_cards",
    metadata,
    sa.Column("id", String(32), primary_key=True),  # derived from (journal message, chat)
    sa.Column("tracker", String(64), nullable=False),
    sa.Column("issue_key", String(64), nullable=False),
    sa.Column("chat_id", String(64), nullable=False),
    sa.Column("telegram_message_id", sa.BigInteger, nullable=True),  # set once the card is sent
    sa.Column("text", Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("taken_by", sa.BigInteger, nullable=True),
    sa.Column("taken_name", String(255), nullable=True),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_staff_cards_issue", "issue_key"),
)


# CSAT (issue 15, store/ratings.py): one survey per issue and round (a reopened issue resolved again may
# be asked again), its rating and comment; and the customers who asked not to be surveyed.
ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("id", String(32), primary_key=True),  # derived from (tracker, issue, round)
    sa.Column("tracker", String(64), nullable=False),
    sa.Column("issue_key", String(64), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("channel", String(16), nullable=False),  # telegram / email
    sa.Column("contact", String(255), nullable=False),  # the customer: a Telegram chat id or an address
    sa.Column("customer_user_id", sa.BigInteger, nullable=True),  # Telegram: who may press the buttons
    sa.Column("assignee", String(255), nullable=True),  # the assignee when it was resolved
    sa.Column("message_id", String(64), nullable=True),  # the journal message of the conversation
    sa.Column("status", String(16), nullable=False),  # pending / sending / asked / cancelled
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),  # resolved + the quiet period
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),  # when the survey went out
    sa.Column("telegram_message_id", sa.BigInteger, nullable=True),  # the survey's message, once sent
    sa.Column("score", sa.Integer, nullable=True),
    sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", Text, nullable=True),
    sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("prompt_message_id", sa.BigInteger, nullable=True),  # Telegram: "reply to add a comment"
    sa.Column("noted_at", sa.DateTime(timezone=True), nullable=True),  # the rating's effects are done
    sa.Column("comment_noted_at", sa.DateTime(timezone=True), nullable=True),  # the comment's too
    sa.UniqueConstraint("tracker", "issue_key", "round", name="uq_ratings_issue_round"),
    sa.Index("ix_ratings_rated_at", "rated_at"),
    sa.Index("ix_ratings_status_due", "status", "due_at"),
    sa.Index("ix_ratings_contact", "channel", "contact"),
)

csat_optouts = sa.Table(
    "csat_optouts",
    metadata,
    sa.Column("channel", String(16), primary_key=True),
    sa.Column("contact", String(255), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


# The admin console (issue 16, store/accounts.py and store/audit.py): its local accounts (a password's
# scrypt hash, never the password) and the audit of what people did there and in the CLI.
admin_users = sa.Table(
    "admin_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", String(64), nullable=False),
    sa.Column("password_hash", String(255), nullable=False),
    sa.Column("role", String(16), nullable=False),  # admin / coordinator / viewer
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", name="uq_admin_users_name"),
)

admin_audit = sa.Table(
    "admin_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", String(255), nullable=False),  # a user name (for a failed login: the name tried)
    sa.Column("action", String(32), nullable=False),  # store.audit.ACTIONS
    sa.Column("target", String(255), nullable=False, default=""),  # a message id, a user name
    sa.Column("outcome", Text, nullable=False, default=""),
    sa.Column("address", String(64), nullable=False, default=""),  # the client's address, "cli"
    sa.Index("ix_admin_audit_at", "at"),
)

config_versions = sa.Table(
    "config_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("author", String(255), nullable=False),  # a console user, or cli:<os user>
    sa.Column("comment", Text, nullable=False, default=""),
    sa.Column("text", Text, nullable=False),  # the rule file's YAML exactly as saved
    sa.Column("restored_from", sa.Integer, nullable=True),  # the version a restore copied
    # the canned responses (JSON: file name → text); NULL: the canned/ folder beside the rule file (0009)
    sa.Column("canned", Text, nullable=True),
)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: dt.datetime | None) -> dt.datetime | None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """UTC: SQLite hands back naive datetimes (written in UTC), PostgreSQL the session's time zone."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching values that contain ``text`` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


CONNECT_TIMEOUT = 5  # seconds to reach PostgreSQL; a DATABASE_URL's own connect_timeout wins


# Each SQLite connection's page cache, in KiB (SQLite's default is 2000). Every pooled connection of every
# process keeps its own, grown to the full size by any scan (a console list, the overview's counts, the
# sweep) and never given back: 2 MiB × four threads took a web worker from 69 to 80 MiB in
# bench/console_memory.py, 256 KiB × four to 73. A larger cache buys little here: the file is written by
# other processes all the time, and a write elsewhere empties a connection's cache at its next read; a
# page read again comes from the operating system's cache.
SQLITE_CACHE_KIB = 256


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``, its database migrated to the newest revision; SQLite gets WAL and a busy
    timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        sa.event.listen(engine, "connect", _configure_sqlite)
    else:
        # PostgreSQL: a pooled connection the server dropped (a restart, a failover) is replaced before
        # use; 5 + 5 covers gunicorn's 4 threads per process. An unreachable server fails the connect
        # within CONNECT_TIMEOUT, so a hook answers 503 at once instead of hanging until TCP gives up.
        connect_args = (
            {} if "connect_timeout" in sa.make_url(url).query else {"connect_timeout": CONNECT_TIMEOUT}
        )
        engine = sa.create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
        )
    upgrade_to_head(engine)
    _ENGINES.add(engine)
    return engine


# Every engine this process made, so that a forked child (a gunicorn worker of a preloaded app, a
# delivery slot of ``trackerhub worker --slots``) starts with empty pools of its own: a pooled connection
# is a socket or an SQLite handle that two processes must never share.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_pools_after_fork() -> None:
    """In a forked child: drop the parent's pooled connections without closing them (they are still
    the parent's), as SQLAlchemy advises for ``os.fork`` (``Engine.dispose(close=False)``)."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_after_fork)


@functools.cache
def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (one pool per process)."""
    return create_db_engine(url)


def upsert_insert(dialect: str, table: sa.Table) -> Insert:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL share the form).

    The dialect module is imported here, on first use: PostgreSQL's is 2.4 MiB that a SQLite hub's web
    workers need not load (their RSS budget, bench/memory.py).
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)  # type: ignore[return-value]  # the same ON CONFLICT methods
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
