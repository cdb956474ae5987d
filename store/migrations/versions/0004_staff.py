"""The team bot: Telegram users linked to tracker accounts, the one-time invites that link them, and
the new-issue cards posted to team chats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("telegram_user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tracker", "account", name="uq_staff_account"),
    )
    op.create_table(
        "staff_invites",
        sa.Column("code_sha256", sa.String(64), primary_key=True),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "staff_cards",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("issue_key", sa.String(64), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.BigInteger, nullable=True),
        sa.Column("taken_name", sa.String(255), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_staff_cards_issue", "staff_cards", ["issue_key"])


def downgrade() -> None:
    op.drop_table("staff_cards")
    op.drop_table("staff_invites")
    op.drop_table("staff")
