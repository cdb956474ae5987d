"""Database engine and schema: the message journal, conversation links, mail ids and outbound log.

SQLite (the embedded default, under ``var/``) and PostgreSQL both work; the schema is created on
start-up with ``create_all``. Schema changes will need migrations once a release is out; until then the
tables are additive.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("conversation_key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued / delivered / ignored / failed
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # the InboundMessage as JSON
    sa.Column("raw_blob_id", sa.String(64), nullable=True),
    sa.Column("tracker", sa.String(16), nullable=True),
    sa.Column("issue_key", sa.String(64), nullable=True),
    sa.Column("issue_url", sa.String(512), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),  # issue / comment
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("create_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    sa.Index("ix_messages_status_next", "status", "next_attempt_at"),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 hex of the content
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_key", sa.String(255), nullable=False),
    sa.Column("tracker", sa.String(16), nullable=False),
    sa.Column("issue_key", sa.String(64), nullable=False),
    sa.Column("issue_url", sa.String(512), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("requester_name", sa.String(255), nullable=False, default=""),
    sa.Column("requester_email", sa.String(320), nullable=True),
    sa.Column("telegram_chat_id", sa.BigInteger, nullable=True),
    sa.Column("telegram_thread_id", sa.BigInteger, nullable=True),
    sa.Column("language", sa.String(16), nullable=True),
    sa.Column("subject", sa.Text, nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("previous_issue_key", sa.String(64), nullable=True),
    sa.Column("message_id", sa.String(32), nullable=False),  # the message that opened the issue
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_links_conversation_active", "conversation_key", "active"),
    sa.Index("ix_links_issue_key", "issue_key"),
)

mail_ids = sa.Table(
    "mail_ids",
    metadata,
    sa.Column("message_id", sa.String(998), primary_key=True),  # RFC 5322 line limit
    sa.Column("link_id", sa.Integer, nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),  # in / out
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

outbound = sa.Table(
    "outbound",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(96), nullable=False),  # autoreply / reply:<tracker>:<comment> / notify:…
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent / skipped / failed
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("external_ref", sa.String(998), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("message_id", "kind", name="uq_outbound_message_kind"),
)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``, with the schema created; SQLite gets WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        sa.event.listen(engine, "connect", _configure_sqlite)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    create_schema(engine)
    return engine


def create_schema(engine: Engine, attempts: int = 5) -> None:
    """Create missing tables. Several processes starting at once may race; the loser tries again."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


@functools.cache
def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (one pool per process)."""
    return create_db_engine(url)
