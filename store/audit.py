"""The console's audit (``admin_audit``): every login (ok and failed), logout, replay and account made,
with who, when and from where; searchable, and exported as CSV by the console."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import admin_audit, aware, contains_pattern
from store.journal import utcnow

ACTIONS = (
    "login",
    "login-failed",
    "logout",
    "replay",
    "add-user",
    "config-import",
    "config-restore",
    "config-save",
    "route",
)


@dataclass(frozen=True)
class AuditRecord:
    """One line of the console's audit."""

    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    address: str


@dataclass(frozen=True)
class AuditQuery:
    """A search of the audit: ``text`` is looked for in the actor, target and outcome."""

    text: str = ""
    action: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def record(
    engine: Engine,
    actor: str,
    action: str,
    *,
    target: str = "",
    outcome: str = "",
    address: str = "",
    at: dt.datetime | None = None,
) -> None:
    """Add one line to the audit."""
    row = {
        "at": at or utcnow(),
        "actor": actor[:255],
        "action": action,
        "target": target[:255],
        "outcome": outcome,
        "address": address[:64],
    }
    with engine.begin() as conn:
        conn.execute(admin_audit.insert().values(**row))


def search(engine: Engine, query: AuditQuery, limit: int = 500) -> list[AuditRecord]:
    """The audit lines ``query`` asks for, newest first."""
    c = admin_audit.c
    select = sa.select(admin_audit).order_by(c.at.desc(), c.id.desc()).limit(limit)
    if query.text:
        pattern = contains_pattern(query.text)
        select = select.where(
            sa.or_(*(column.ilike(pattern, escape="\\") for column in (c.actor, c.target, c.outcome)))
        )
    if query.action:
        select = select.where(c.action == query.action)
    if query.since:
        select = select.where(c.at >= query.since)
    if query.until:
        select = select.where(c.at < query.until)
    with engine.connect() as conn:
        rows = conn.execute(select).all()
    return [
        AuditRecord(
            at=aware(row.at),
            actor=row.actor,
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            address=row.address,
        )
        for row in rows
    ]
