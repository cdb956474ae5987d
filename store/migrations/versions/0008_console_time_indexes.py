"""The console's time-window reads: the journal by arrival (the dashboard's per-hour and per-day counts,
the Messages list newest first) and automation firings newest first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_index("ix_automation_firings_created", "automation_firings", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_automation_firings_created", table_name="automation_firings")
    op.drop_index("ix_messages_created_at", table_name="messages")
