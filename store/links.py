"""Conversation ↔ issue links, and the mail Message-IDs that thread into them.

A link says: this conversation (a Telegram chat topic, an e-mail thread) is issue KEY. Only one link per
conversation is active; when an issue is done, the next message opens a new issue and a new active
link that remembers the previous key.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import journal
from store.db import links, mail_ids, upsert_insert
from store.journal import fit_key, utcnow

MAIL_ID_LIMIT = 998  # RFC 5322's line limit, the width of mail_ids.message_id
# PostgreSQL cannot index an entry over 2704 bytes, and RFC 6532 allows UTF-8 Message-IDs: keys stay
# under this many bytes (a 998-character ASCII id is unchanged)
MAIL_ID_BYTES = 2000
NAME_LIMIT = 255  # links.requester_name
EMAIL_LIMIT = 320  # links.requester_email: RFC 5321's 64-byte local part, "@", 255-byte domain
LANGUAGE_LIMIT = 16  # links.language


@dataclass(frozen=True)
class Link:
    """One conversation's issue, with what the hub needs to answer the customer."""

    id: int
    conversation_key: str
    tracker: str
    issue_key: str
    issue_url: str
    channel: str
    requester_name: str
    requester_email: str | None
    telegram_chat_id: int | None
    telegram_thread_id: int | None
    language: str | None
    subject: str
    active: bool
    previous_issue_key: str | None
    message_id: str


@dataclass(frozen=True)
class NewLink:
    """What the worker records after creating an issue for a conversation."""

    conversation_key: str
    tracker: str
    issue_key: str
    issue_url: str
    channel: str
    message_id: str
    requester_name: str = ""
    requester_email: str | None = None
    telegram_chat_id: int | None = None
    telegram_thread_id: int | None = None
    language: str | None = None
    subject: str = ""
    previous_issue_key: str | None = None


def active_link(engine: Engine, conversation_key: str) -> Link | None:
    """The conversation's current issue, if it has one."""
    query = (
        sa.select(links)
        .where(links.c.conversation_key == fit_key(conversation_key), links.c.active.is_(True))
        .order_by(links.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _link(row) if row else None


def latest_link(engine: Engine, conversation_key: str) -> Link | None:
    """The conversation's newest issue, active or not: after a resolve ended the conversation, the
    issue its next message follows up on (and links to)."""
    with engine.connect() as conn:
        row = conn.execute(_LATEST_LINK, {"conversation": fit_key(conversation_key)}).first()
    return _link(row) if row else None


# Built once (every delivery of a chat message asks it): only its value is bound per call.
_LATEST_LINK = (
    sa.select(links)
    .where(links.c.conversation_key == sa.bindparam("conversation"))
    .order_by(links.c.id.desc())
    .limit(1)
)


def with_active_link(engine: Engine, conversation_keys: Sequence[str]) -> set[str]:
    """Which of these conversations have an active issue (one query, for a batch of candidates)."""
    if not conversation_keys:
        return set()
    fitted = {fit_key(key): key for key in conversation_keys}
    query = sa.select(links.c.conversation_key).where(
        links.c.conversation_key.in_(list(fitted)), links.c.active.is_(True)
    )
    with engine.connect() as conn:
        return {fitted[row[0]] for row in conn.execute(query) if row[0] in fitted}


def link_for_issue(engine: Engine, issue_key: str) -> Link | None:
    """The newest link to an issue, if the hub opened it."""
    query = sa.select(links).where(links.c.issue_key == issue_key).order_by(links.c.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _link(row) if row else None


def links_on_issue(engine: Engine, tracker: str, issue_key: str) -> list[Link]:
    """Every conversation link on an issue, oldest first (a routed issue can carry several)."""
    query = (
        sa.select(links)
        .where(links.c.tracker == tracker, links.c.issue_key == issue_key)
        .order_by(links.c.id)
    )
    with engine.connect() as conn:
        return [_link(row) for row in conn.execute(query)]


def get_link(engine: Engine, link_id: int) -> Link | None:
    """A link by id."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(links).where(links.c.id == link_id)).first()
    return _link(row) if row else None


def add_link(engine: Engine, new: NewLink, mail_message_ids: Iterable[str] = ()) -> Link:
    """Record a conversation's new issue, deactivating its previous link, and its inbound mail ids."""
    with engine.begin() as conn:
        return insert_link(conn, new, mail_message_ids)


def insert_link(conn: sa.Connection, new: NewLink, mail_message_ids: Iterable[str] = ()) -> Link:
    """:func:`add_link` within the caller's transaction; the link as stored.

    What the customer supplied is fitted to its column rather than failing the write (the issue exists
    by now): a long name or language tag is cut, and an address too long to be deliverable is dropped
    (cutting it could make another, real address).
    """
    email = new.requester_email
    new = replace(
        new,
        conversation_key=fit_key(new.conversation_key),
        requester_name=new.requester_name[:NAME_LIMIT],
        requester_email=email if email is None or len(email) <= EMAIL_LIMIT else None,
        language=new.language[:LANGUAGE_LIMIT] if new.language is not None else None,
    )
    if conn.dialect.name == "postgresql":
        # one link at a time per conversation, so two jobs cannot both leave theirs active (SQLite
        # gets this from its single writer)
        conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(new.conversation_key, 0)))
        )
    conn.execute(_DEACTIVATE_CONVERSATION, {"conversation": new.conversation_key})
    # the row comes back from the insert (RETURNING), not from a second read
    row = conn.execute(_INSERT_LINK, {**new.__dict__, "active": True, "created_at": utcnow()}).one()
    link = _link(row)
    for message_id in mail_message_ids:
        _put_mail_id(conn, message_id, link.id, "in")
    return link


_DEACTIVATE_CONVERSATION = (
    links.update()
    .where(links.c.conversation_key == sa.bindparam("conversation"), links.c.active.is_(True))
    .values(active=False)
)
_INSERT_LINK = links.insert().returning(*links.c)


def mark_delivered_on(engine: Engine, message_id: str, link: Link, outcome: str) -> None:
    """The message reached the link's issue (as a comment, a reply…): journal it as delivered there."""
    with engine.begin() as conn:
        set_delivered_on(conn, message_id, link, outcome)


def set_delivered_on(conn: sa.Connection, message_id: str, link: Link, outcome: str) -> None:
    """:func:`mark_delivered_on` within the caller's transaction."""
    journal.set_delivered(
        conn,
        message_id,
        tracker=link.tracker,
        issue_key=link.issue_key,
        issue_url=link.issue_url,
        outcome=outcome,
    )


def move_to_issue(
    engine: Engine, *, tracker: str, issue_key: str, to_tracker: str, to_key: str, to_url: str
) -> int:
    """A routed issue continues as another (issue 13's move): every conversation on ``issue_key`` is
    now on ``to_key``, its mail thread included (its Message-IDs stay with the same link), so
    follow-ups and replies go there and the source's status changes reach no customer. Repeating it is
    harmless; the number of links moved."""
    with engine.begin() as conn:
        result = conn.execute(
            links.update()
            .where(links.c.tracker == tracker, links.c.issue_key == issue_key)
            .values(tracker=to_tracker, issue_key=to_key, issue_url=to_url)
        )
    return int(result.rowcount or 0)


def deactivate(engine: Engine, link_id: int) -> None:
    """The link's issue is done: the conversation's next message opens a new issue."""
    with engine.begin() as conn:
        conn.execute(links.update().where(links.c.id == link_id).values(active=False))


def remember_mail_ids(engine: Engine, link_id: int, message_ids: Iterable[str], direction: str) -> None:
    """Remember Message-IDs the hub received or sent in a link's thread, for threading replies."""
    message_ids = list(message_ids)
    if not message_ids:
        return  # a chat message has none: no transaction to open
    with engine.begin() as conn:
        put_mail_ids(conn, link_id, message_ids, direction)


def put_mail_ids(conn: sa.Connection, link_id: int, message_ids: Iterable[str], direction: str) -> None:
    """:func:`remember_mail_ids` within the caller's transaction."""
    for message_id in message_ids:
        _put_mail_id(conn, message_id, link_id, direction)


def thread_mail_ids(engine: Engine, link_id: int) -> list[str]:
    """Every Message-ID of a link's thread, oldest first, and the newest one the customer sent."""
    query = sa.select(mail_ids).where(mail_ids.c.link_id == link_id).order_by(mail_ids.c.created_at)
    with engine.connect() as conn:
        return [row.message_id for row in conn.execute(query)]


def last_inbound_mail_id(engine: Engine, link_id: int) -> str | None:
    """The newest Message-ID the customer sent in a link's thread (what a reply answers)."""
    query = (
        sa.select(mail_ids.c.message_id)
        .where(mail_ids.c.link_id == link_id, mail_ids.c.direction == "in")
        .order_by(mail_ids.c.created_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return str(row[0]) if row else None


def link_for_mail_ids(engine: Engine, message_ids: Iterable[str]) -> Link | None:
    """The link of the first known Message-ID among ``message_ids`` (In-Reply-To before References)."""
    ids = [mail_key(m) for m in message_ids if m]
    if not ids:
        return None
    with engine.connect() as conn:
        rows = conn.execute(sa.select(mail_ids).where(mail_ids.c.message_id.in_(ids))).all()
    by_id = {row.message_id: row.link_id for row in rows}
    for message_id in ids:
        if message_id in by_id:
            return get_link(engine, by_id[message_id])
    return None


def mail_key(message_id: str) -> str:
    """The key a Message-ID is stored under: itself, or when too long (in characters or in UTF-8
    bytes) a readable prefix and a hash of the whole, as :func:`store.journal.fit_key` makes."""
    key = fit_key(message_id, MAIL_ID_LIMIT)
    if len(key.encode("utf-8", "surrogatepass")) > MAIL_ID_BYTES:
        key = fit_key(message_id, MAIL_ID_BYTES // 4)
    return key


def _put_mail_id(conn: sa.Connection, message_id: str, link_id: int, direction: str) -> None:
    """Remember a Message-ID for a link; one already known keeps the thread that saw it first."""
    conn.execute(
        _insert_mail_id_once(conn.dialect.name),
        {
            "message_id": mail_key(message_id),
            "link_id": link_id,
            "direction": direction,
            "created_at": utcnow(),
        },
    )


@functools.cache
def _insert_mail_id_once(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING, so two jobs remembering one id at once do not collide."""
    return upsert_insert(dialect, mail_ids).on_conflict_do_nothing(index_elements=[mail_ids.c.message_id])


def _link(row: sa.Row[Any]) -> Link:
    data = dict(row._mapping)
    data.pop("created_at", None)
    return Link(**data)
