"""CSAT: the ratings customers gave resolved issues (one survey per issue and round), and the customers
who opted out of surveys.

Revision ID: 0005_ratings
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ratings"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("issue_key", sa.String(64), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(255), nullable=False),
        sa.Column("customer_user_id", sa.BigInteger, nullable=True),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger, nullable=True),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tracker", "issue_key", "round", name="uq_ratings_issue_round"),
    )
    op.create_index("ix_ratings_rated_at", "ratings", ["rated_at"])
    op.create_index("ix_ratings_contact", "ratings", ["channel", "contact"])
    op.create_index("ix_ratings_status_due", "ratings", ["status", "due_at"])
    op.create_table(
        "csat_optouts",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("contact", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("csat_optouts")
    op.drop_index("ix_ratings_status_due", table_name="ratings")
    op.drop_index("ix_ratings_contact", table_name="ratings")
    op.drop_index("ix_ratings_rated_at", table_name="ratings")
    op.drop_table("ratings")
