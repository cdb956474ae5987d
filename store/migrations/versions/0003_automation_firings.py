"""Automations: the firings of rules on issues (exactly once), and scheduled rules' last due times.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_firings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("tracker", sa.String(64), nullable=False),
        sa.Column("issue_key", sa.String(64), nullable=False),
        sa.Column("occurrence", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actions_done", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("rule", "issue_key", "occurrence", name="uq_automation_firings_key"),
    )
    op.create_index("ix_automation_firings_status_next", "automation_firings", ["status", "next_attempt_at"])
    op.create_index("ix_automation_firings_issue", "automation_firings", ["issue_key"])
    op.create_index("ix_automation_firings_rule_created", "automation_firings", ["rule", "created_at"])
    op.create_table(
        "automation_schedules",
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("last_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("automation_schedules")
    op.drop_index("ix_automation_firings_rule_created", "automation_firings")
    op.drop_index("ix_automation_firings_issue", "automation_firings")
    op.drop_index("ix_automation_firings_status_next", "automation_firings")
    op.drop_table("automation_firings")
