"""Searching the journal the way the console's Messages and Dead letters pages do: by channel, status,
issue key, dead letter's reason, dates, and the sender (inside each row's parsed body, so it is read
row by row after SQL has narrowed by everything else)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import contains_pattern, messages
from store.journal import Entry, entry_from_row

T = TypeVar("T")


@dataclass(frozen=True)
class MessageQuery:
    """A search of the journal (the console's Messages and Dead letters pages); empty means any.

    ``sender`` is looked for in the sender's name, e-mail, Telegram username and user id; ``reason``
    in the dead letter's reason.
    """

    channel: str = ""
    status: str = ""
    sender: str = ""
    issue_key: str = ""
    reason: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def search(engine: Engine, query: MessageQuery, limit: int = 100, offset: int = 0) -> list[Entry]:
    """The journal rows ``query`` asks for, newest first."""
    select = _filtered(sa.select(messages), query)
    sender = query.sender.strip().casefold()
    with engine.connect() as conn:
        if not sender:
            return [entry_from_row(row) for row in conn.execute(select.limit(limit).offset(offset))]
        entries = (entry_from_row(row) for row in conn.execute(select))
        return list(islice(_from_sender(entries, sender, lambda entry: entry.body), offset, offset + limit))


def search_ids(engine: Engine, query: MessageQuery, limit: int) -> list[str]:
    """The ids of the first ``limit`` rows ``query`` asks for, newest first: what "replay all" takes,
    without holding every row's body (only a sender filter reads the bodies, one row at a time)."""
    c = messages.c
    sender = query.sender.strip().casefold()
    with engine.connect() as conn:
        if not sender:
            return list(conn.scalars(_filtered(sa.select(c.id), query).limit(limit)))
        rows = conn.execute(_filtered(sa.select(c.id, c.body), query))
        return [row.id for row in islice(_from_sender(rows, sender, lambda row: row.body), limit)]


def _from_sender(items: Iterable[T], sender: str, body_of: Callable[[T], str]) -> Iterator[T]:
    """The items whose body's sender contains ``sender`` (case-folded)."""
    return (item for item in items if sender in _sender_text(body_of(item)))


def _filtered(select: sa.Select[Any], query: MessageQuery) -> sa.Select[Any]:
    """``select`` narrowed to what ``query`` asks for, newest first; a sender is only narrowed by its
    text (it is inside the body's JSON: the parsed sender decides, in the caller)."""
    c = messages.c
    select = select.order_by(c.created_at.desc(), c.id.desc())
    if query.channel:
        select = select.where(c.channel == query.channel)
    if query.status:
        select = select.where(c.status == query.status)
    if query.issue_key:
        select = select.where(sa.func.upper(c.issue_key) == query.issue_key.strip().upper())
    if query.reason:
        select = select.where(c.reason.ilike(contains_pattern(query.reason), escape="\\"))
    if query.since:
        select = select.where(c.created_at >= query.since)
    if query.until:
        select = select.where(c.created_at < query.until)
    if query.sender.strip():
        select = select.where(c.body.ilike(contains_pattern(query.sender.strip()), escape="\\"))
    return select


def _sender_text(body: str) -> str:
    """The sender's name, e-mail, username and id in one case-folded string ("" for tracker events)."""
    try:
        sender = json.loads(body).get("sender") or {}
    except (ValueError, AttributeError):
        return ""
    if not isinstance(sender, dict):
        return ""
    keys = ("name", "email", "telegram_username", "telegram_user_id")
    return " ".join(str(sender.get(key) or "") for key in keys).casefold()
