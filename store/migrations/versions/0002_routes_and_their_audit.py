"""Routing requests and their audit (issue 13).

``route_requests``: one row per routing request (a coordinator's click, an API call, a CLI run),
journaled before it is acknowledged; ``active_key`` is unique while a request is live, so one source
issue has one live request. ``route_audit``: who routed what, when, from where to where, with which
values, and the result.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("source_tracker", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("active_key", sa.String(96), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("supplied", sa.Text, nullable=False),
        sa.Column("target_tracker", sa.String(16), nullable=True),
        sa.Column("target_key", sa.String(64), nullable=True),
        sa.Column("target_url", sa.String(512), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("steps", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("active_key", name="uq_route_requests_active_key"),
    )
    op.create_index("ix_route_requests_source", "route_requests", ["source_tracker", "source_key", "route"])
    op.create_index("ix_route_requests_status_lease", "route_requests", ["status", "lease_until"])
    op.create_table(
        "route_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("source_tracker", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("target_tracker", sa.String(16), nullable=True),
        sa.Column("target_key", sa.String(64), nullable=True),
        sa.Column("field_values", sa.Text, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_route_audit_at", "route_audit", ["at"])
    op.create_index("ix_route_audit_source", "route_audit", ["source_key"])


def downgrade() -> None:
    op.drop_table("route_audit")
    op.drop_table("route_requests")
