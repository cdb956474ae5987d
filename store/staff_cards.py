"""New-issue cards in the team's chats, and who took each.

A card's row is written before the card is sent, under an id derived from the journal message and the
chat, so a retried job finds it and does not post a second card once the first is recorded. A button's
``callback_data`` names the row (``take:<id>``), never the issue: what a press acts on is looked up
here and checked against the chat and message it came from. ``take`` sets ``taken_by`` only where it is
empty, so of two people pressing Take at once one wins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import staff_cards as cards


@dataclass(frozen=True)
class Card:
    id: str
    tracker: str
    issue_key: str
    chat_id: str
    telegram_message_id: int | None
    text: str
    taken_by: int | None
    taken_name: str | None


def card_id(message_id: str, chat_id: int | str) -> str:
    """The card of journal message ``message_id`` in ``chat_id``: 20 hex characters, short enough for a
    button's 64-byte ``callback_data``."""
    return hashlib.sha256(f"{message_id}\0{chat_id}".encode()).hexdigest()[:20]


def add(engine: Engine, card: Card, now: dt.datetime) -> Card:
    """Record ``card`` unless it is recorded already; the recorded one."""
    with engine.begin() as conn:
        found = conn.execute(sa.select(cards).where(cards.c.id == card.id)).first()
        if found is None:
            conn.execute(
                cards.insert().values(
                    id=card.id,
                    tracker=card.tracker,
                    issue_key=card.issue_key,
                    chat_id=card.chat_id,
                    text=card.text,
                    created_at=now,
                )
            )
            return card
    return _card(found)


def sent(engine: Engine, cid: str, telegram_message_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(cards.update().where(cards.c.id == cid).values(telegram_message_id=telegram_message_id))


def get(engine: Engine, cid: str) -> Card | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(cards).where(cards.c.id == cid)).first()
    return _card(row) if row is not None else None


def on_message(engine: Engine, chat_id: int | str, telegram_message_id: int) -> Card | None:
    """The card the bot sent as ``telegram_message_id`` in ``chat_id``, if it is one."""
    query = sa.select(cards).where(
        cards.c.chat_id == str(chat_id), cards.c.telegram_message_id == telegram_message_id
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _card(row) if row is not None else None


def for_issue(engine: Engine, tracker: str, issue_key: str) -> list[Card]:
    """The cards of an issue that the chats show (sent), oldest first."""
    query = (
        sa.select(cards)
        .where(
            cards.c.tracker == tracker,
            cards.c.issue_key == issue_key,
            cards.c.telegram_message_id.is_not(None),
        )
        .order_by(cards.c.created_at)
    )
    with engine.connect() as conn:
        return [_card(row) for row in conn.execute(query)]


def take(engine: Engine, cid: str, user_id: int, name: str, now: dt.datetime) -> Card | None:
    """Take the card for ``user_id`` if nobody has: the card as it is after, or None when there is none.
    Whether this call took it: ``taken_by == user_id`` on the answer (the same person twice: also so)."""
    with engine.begin() as conn:
        conn.execute(
            cards.update()
            .where(cards.c.id == cid, cards.c.taken_by.is_(None))
            .values(taken_by=user_id, taken_name=name, taken_at=now)
        )
        row = conn.execute(sa.select(cards).where(cards.c.id == cid)).first()
    return _card(row) if row is not None else None


def release(engine: Engine, cid: str, user_id: int) -> None:
    """Give the card back (the tracker refused the assignment)."""
    with engine.begin() as conn:
        conn.execute(
            cards.update()
            .where(cards.c.id == cid, cards.c.taken_by == user_id)
            .values(taken_by=None, taken_name=None, taken_at=None)
        )


def _card(row: sa.Row[tuple[object, ...]]) -> Card:
    return Card(
        id=str(row.id),
        tracker=str(row.tracker),
        issue_key=str(row.issue_key),
        chat_id=str(row.chat_id),
        telegram_message_id=row.telegram_message_id,
        text=str(row.text),
        taken_by=row.taken_by,
        taken_name=row.taken_name,
    )
