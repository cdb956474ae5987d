"""The team: Telegram users linked to tracker accounts, through one-time invites.

An invite's code travels in a ``t.me/<bot>?start=<code>`` link; only its SHA-256 is stored, so a copy of
the database links nobody. A code links once, before it expires; the person who used it may open it
again and is told they are linked, anyone else is refused. A tracker account is linked to one Telegram
user at a time and a Telegram user to one account: a new link replaces the old one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store.db import aware, staff, staff_invites


class Redeemed(StrEnum):
    """What opening an invite link came to."""

    LINKED = "linked"
    ALREADY = "already"  # the same person opened the link they used before
    USED = "used"  # somebody else used it
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Staff:
    """A linked member of the team."""

    telegram_user_id: int
    tracker: str
    account: str
    name: str
    username: str | None
    linked_at: dt.datetime


@dataclass(frozen=True)
class Invite:
    """An invite not used yet (``staff ls`` shows them)."""

    tracker: str
    account: str
    expires_at: dt.datetime


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def create_invite(engine: Engine, tracker: str, account: str, ttl: dt.timedelta, now: dt.datetime) -> str:
    """A new one-time code for ``account`` of ``tracker``; 24 characters of ``A-Za-z0-9_-``, what a
    ``start`` parameter allows."""
    code = secrets.token_urlsafe(18)
    with engine.begin() as conn:
        conn.execute(
            staff_invites.insert().values(
                code_sha256=code_hash(code),
                tracker=tracker,
                account=account,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return code


def redeem(
    engine: Engine, code: str, telegram_user_id: int, name: str, username: str | None, now: dt.datetime
) -> tuple[Redeemed, Staff | None]:
    """Use ``code`` for this Telegram user: the outcome, and the link when there is one."""
    with engine.begin() as conn:
        invite = conn.execute(
            sa.select(staff_invites).where(staff_invites.c.code_sha256 == code_hash(code))
        ).first()
        if invite is None:
            return Redeemed.UNKNOWN, None
        if invite.used_at is not None:
            if invite.used_by != telegram_user_id:
                return Redeemed.USED, None
            return Redeemed.ALREADY, _find(conn, telegram_user_id)
        if aware(invite.expires_at) <= now:
            return Redeemed.EXPIRED, None
        claimed = conn.execute(
            staff_invites.update()
            .where(staff_invites.c.code_sha256 == invite.code_sha256, staff_invites.c.used_at.is_(None))
            .values(used_at=now, used_by=telegram_user_id)
        )
        if claimed.rowcount != 1:  # another request used it between the read and the update
            return Redeemed.USED, None
        conn.execute(
            staff.delete().where(
                sa.or_(
                    staff.c.telegram_user_id == telegram_user_id,
                    sa.and_(staff.c.tracker == invite.tracker, staff.c.account == invite.account),
                )
            )
        )
        linked = Staff(telegram_user_id, invite.tracker, invite.account, name, username, now)
        conn.execute(
            staff.insert().values(
                telegram_user_id=telegram_user_id,
                tracker=invite.tracker,
                account=invite.account,
                name=name,
                username=username,
                linked_at=now,
            )
        )
    return Redeemed.LINKED, linked


def find(engine: Engine, telegram_user_id: int) -> Staff | None:
    """The linked member this Telegram user is, or None (a customer)."""
    with engine.connect() as conn:
        return _find(conn, telegram_user_id)


def members(engine: Engine) -> list[Staff]:
    """Everyone linked, by tracker and account."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(staff).order_by(staff.c.tracker, staff.c.account)).all()
    return [_staff(row) for row in rows]


def open_invites(engine: Engine, now: dt.datetime) -> list[Invite]:
    """Invites neither used nor expired, soonest to expire first."""
    query = (
        sa.select(staff_invites)
        .where(staff_invites.c.used_at.is_(None), staff_invites.c.expires_at > now)
        .order_by(staff_invites.c.expires_at)
    )
    with engine.connect() as conn:
        return [Invite(r.tracker, r.account, aware(r.expires_at)) for r in conn.execute(query)]


def remove(engine: Engine, who: str) -> int:
    """Unlink the tracker account ``who`` (or, when no account is called so, the Telegram user with that
    id) and void the account's open invites; how many links went."""
    with engine.begin() as conn:
        removed = conn.execute(staff.delete().where(staff.c.account == who)).rowcount
        if not removed and who.isdigit():
            removed = conn.execute(staff.delete().where(staff.c.telegram_user_id == int(who))).rowcount
        conn.execute(
            staff_invites.delete().where(staff_invites.c.account == who, staff_invites.c.used_at.is_(None))
        )
    return int(removed)


def _find(conn: Connection, telegram_user_id: int) -> Staff | None:
    row = conn.execute(sa.select(staff).where(staff.c.telegram_user_id == telegram_user_id)).first()
    return _staff(row) if row is not None else None


def _staff(row: sa.Row[tuple[object, ...]]) -> Staff:
    return Staff(
        int(row.telegram_user_id),
        str(row.tracker),
        str(row.account),
        str(row.name),
        row.username,
        aware(row.linked_at),
    )
