"""The wave-1 schema: the journal, blobs, links, mail ids and the outbound log.

``WAVE1`` is a frozen copy of store/db.py's tables as they were before migrations, and ``upgrade`` is the
``metadata.create_all`` that made every wave-1 database, so the DDL is the same statement for statement
(store/db.py's ``String``/``Text`` change only what is bound, not the column type). store.migrate also
checks a wave-1 database against ``WAVE1`` before stamping it with this revision. Keep it as it is:
a change to the schema is a new revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAVE1 = sa.MetaData()

sa.Table(
    "messages",
    WAVE1,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("conversation_key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("raw_blob_id", sa.String(64), nullable=True),
    sa.Column("tracker", sa.String(16), nullable=True),
    sa.Column("issue_key", sa.String(64), nullable=True),
    sa.Column("issue_url", sa.String(512), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("create_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    sa.Index("ix_messages_status_next", "status", "next_attempt_at"),
    sa.Index("ix_messages_conversation_status", "conversation_key", "status"),
)

sa.Table(
    "blobs",
    WAVE1,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

sa.Table(
    "links",
    WAVE1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_key", sa.String(255), nullable=False),
    sa.Column("tracker", sa.String(16), nullable=False),
    sa.Column("issue_key", sa.String(64), nullable=False),
    sa.Column("issue_url", sa.String(512), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("requester_name", sa.String(255), nullable=False),
    sa.Column("requester_email", sa.String(320), nullable=True),
    sa.Column("telegram_chat_id", sa.BigInteger, nullable=True),
    sa.Column("telegram_thread_id", sa.BigInteger, nullable=True),
    sa.Column("language", sa.String(16), nullable=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("previous_issue_key", sa.String(64), nullable=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_links_conversation_active", "conversation_key", "active"),
    sa.Index("ix_links_issue_key", "issue_key"),
)

sa.Table(
    "mail_ids",
    WAVE1,
    sa.Column("message_id", sa.String(998), primary_key=True),
    sa.Column("link_id", sa.Integer, nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

sa.Table(
    "outbound",
    WAVE1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(96), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("external_ref", sa.String(998), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("message_id", "kind", name="uq_outbound_message_kind"),
)


def upgrade() -> None:
    WAVE1.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    WAVE1.drop_all(op.get_bind(), checkfirst=False)
