"""New-issue cards in the team's chats, and the Take button on them.

``queue_cards`` runs where an issue has just been created for a customer's message; ``post_cards`` (a
job, once per message) sends a card to each chat of the rule file's ``team_bot.chats``. A press comes
back through ``/hooks/telegram`` as a ``callback_query``; ``handle_press`` (a job, once per update)
checks who pressed (a linked member of the team, ``store.staff``) and what (the card the data names,
on the message it came from), takes the card (of two people at once one wins), assigns the issue in
the tracker to the member's account, edits the card to say who took it, and answers the press.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from connector.errors import TrackerError
from jobs import csat as csat_jobs
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.presses import answer_press
from jobs.queues import enqueue_reply
from mappers import csat, team_cards
from mappers.route_links import NoSecretKey, route_link_url
from mappers.team_cards import CardFacts, Press
from store import journal, links, staff, staff_cards
from store.staff_cards import Card

log = logging.getLogger(__name__)

NOT_STAFF = "Only the support team can use this button. To join, ask for an invite link."
STALE = "This button is no longer valid."


def queue_cards(ctx: Context, message_id: str) -> None:
    """Post the new issue of ``message_id`` to the team's chats, when there are any and a bot."""
    if ctx.config.team_bot.chats and ctx.settings.secret("TELEGRAM_BOT_TOKEN"):
        enqueue_reply(ctx.redis, "jobs.team_cards.post_cards", message_id)


def post_cards(message_id: str) -> int:
    """The RQ job: one card per team chat for the issue of ``message_id``; how many were sent."""
    return post_cards_with(get_context(), message_id)


def post_cards_with(ctx: Context, message_id: str) -> int:
    entry = journal.get(ctx.engine, message_id)
    if entry is None or entry.issue_key is None or entry.tracker is None:
        log.warning("cards.no-issue message_id=%s", message_id)
        return 0
    link = links.link_for_issue(ctx.engine, entry.issue_key)
    facts = CardFacts(
        issue_key=entry.issue_key,
        summary=link.subject if link else entry.issue_key,
        requester=link.requester_name if link else "?",
        channel=link.channel if link else entry.channel,
    )
    client = ctx.telegram
    assert client is not None  # queue_cards checked the token
    posted = 0
    for chat in ctx.config.team_bot.chats:
        new = Card(
            staff_cards.card_id(message_id, chat),
            entry.tracker,
            entry.issue_key,
            str(chat),
            None,
            team_cards.card_text(facts),
            None,
            None,
        )
        card = staff_cards.add(ctx.engine, new, utcnow())
        if card.telegram_message_id is not None:
            continue  # sent by an earlier try of this job
        sent = client.send_message(chat, card.text, reply_markup=_buttons(ctx, card, taken=False))
        staff_cards.sent(ctx.engine, card.id, sent)
        log.info("cards.posted message_id=%s key=%s chat=%s", message_id, card.issue_key, chat)
        posted += 1
    return posted


def handle_press(update: dict[str, Any]) -> str:
    """The RQ job: carry out a button press; what came of it."""
    press = team_cards.parse_press(update)
    if press is None:
        return "malformed"
    if press.data.startswith(csat.PREFIX):  # a customer's CSAT button
        return csat_jobs.handle_press_with(get_context(), press, utcnow())
    return handle_press_with(get_context(), press, utcnow())


def handle_press_with(ctx: Context, press: Press, now: dt.datetime) -> str:
    return answer_press(ctx, press, "cards", *_take(ctx, press, now))


def _take(ctx: Context, press: Press, now: dt.datetime) -> tuple[str, str]:
    """What a press on Take comes to, and the answer the presser sees."""
    cid = team_cards.taken_card(press.data)
    card = staff_cards.get(ctx.engine, cid) if cid else None
    if card is None or card.chat_id != str(press.chat_id) or card.telegram_message_id != press.message_id:
        return "stale", STALE
    member = staff.find(ctx.engine, press.user_id)
    if member is None:
        return "refused", NOT_STAFF
    if member.tracker != card.tracker:
        return "other-tracker", f"You are linked to {member.tracker}; {card.issue_key} is in {card.tracker}."
    if card.taken_by == press.user_id:
        return "again", f"{card.issue_key} is yours already."
    after = staff_cards.take(ctx.engine, card.id, press.user_id, member.name, now)
    if after is None or after.taken_by != press.user_id:
        return "lost", f"{card.issue_key} was taken by {after.taken_name if after else 'someone'} first."
    try:
        ctx.tracker(card.tracker).assign(card.issue_key, member.account)
    except TrackerError as exc:
        staff_cards.release(ctx.engine, card.id, press.user_id)
        log.warning("cards.assign-failed key=%s error=%s", card.issue_key, type(exc).__name__)
        return "failed", f"The tracker did not take the assignment ({type(exc).__name__}); try again."
    client = ctx.telegram
    if client is not None and card.telegram_message_id is not None:
        text = team_cards.taken_text(card.text, member.name)
        client.edit_message_text(
            press.chat_id, card.telegram_message_id, text, reply_markup=_buttons(ctx, card, taken=True)
        )
    return "taken", f"{card.issue_key} is assigned to you."


def _buttons(ctx: Context, card: Card, *, taken: bool) -> dict[str, Any]:
    """Take (unless taken), Route → (when there are routes and a key to sign their links), Open."""
    route_url = None
    if ctx.config.routes:
        with contextlib.suppress(NoSecretKey):  # no key to sign with: no routing page to link to
            route_url = route_link_url(ctx.settings, card.tracker, card.issue_key)
    open_url = ctx.tracker(card.tracker).issue_url(card.issue_key)
    return team_cards.keyboard(card.id, open_url=open_url, route_url=route_url, taken=taken)
