"""New-issue cards in the team's chats, and the Take button on them.

``queue_cards`` runs where an issue has just been created for a customer's message; ``post_cards`` (a
job, once per message) sends a card to each chat of the rule file's ``team_bot.chats``. A press comes
back through ``/hooks/telegram`` as a ``callback_query``; ``handle_press`` (a job, once per update)
checks who pressed (a linked member of the team, ``store.staff``) and what (the card the data names,
on the message it came from), takes the card (of two people at once one wins), assigns the issue in
the tracker to the member's account, edits the card to say who took it, and answers the press. A press
on a route's button goes to ``jobs.team_routes``; a card's buttons and its sending are
``jobs.team_posts``'.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from connector.errors import TrackerError
from connector.types import IssueState
from jobs import csat as csat_jobs
from jobs.automations.sla import first_response_text
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.presses import answer_press
from jobs.queues import enqueue_reply
from jobs.team_posts import NOT_STAFF, STALE, card_buttons, new_card, post_card, pressed_card
from jobs.team_routes import route_press
from mappers import csat, team_cards
from mappers.team_cards import CardFacts, Press
from store import journal, links, staff, staff_cards

log = logging.getLogger(__name__)


def has_team_chats(ctx: Context) -> bool:
    """Whether the rule file names team chats and a bot can post to them."""
    return bool(ctx.config.team_bot.chats and ctx.settings.secret("TELEGRAM_BOT_TOKEN"))


def queue_cards(ctx: Context, message_id: str) -> None:
    """Post the new issue of ``message_id`` to the team's chats, when there are any and a bot."""
    if has_team_chats(ctx):
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
    state = _state(ctx, entry.tracker, entry.issue_key)
    priority = state.priority if state is not None else None
    sla = first_response_text(ctx, state) if state is not None else ""
    facts = CardFacts(
        issue_key=entry.issue_key,
        summary=link.subject if link else entry.issue_key,
        requester=link.requester_name if link else "?",
        channel=link.channel if link else entry.channel,
        priority=priority,
        sla=sla,
    )
    posted = 0
    team_bot = ctx.config.team_bot
    container = (state.container or None) if state is not None else None  # unknown: every chat gets it
    for chat in (chat for chat in team_bot.chats if team_bot.serves_issue(chat, container)):
        cid = staff_cards.card_id(message_id, chat)
        card = new_card(cid, entry.tracker, entry.issue_key, chat, team_cards.card_text(facts))
        posted += post_card(ctx, card, utcnow())
    return posted


def _state(ctx: Context, tracker: str, key: str) -> IssueState | None:
    """The issue as the tracker has it, for the card's priority and SLA and the chats that serve its
    project; None when the tracker cannot say (the card goes out all the same)."""
    try:
        return ctx.tracker(tracker).get_state(key)
    except TrackerError as exc:
        log.warning("cards.no-state key=%s error=%s", key, type(exc).__name__)
        return None


def handle_press(update: dict[str, Any]) -> str:
    """The RQ job: carry out a button press; what came of it."""
    press = team_cards.parse_press(update)
    if press is None:
        return "malformed"
    if press.data.startswith(csat.PREFIX):  # a customer's CSAT button
        return csat_jobs.handle_press_with(get_context(), press, utcnow())
    return handle_press_with(get_context(), press, utcnow())


def handle_press_with(ctx: Context, press: Press, now: dt.datetime) -> str:
    if team_cards.routed_card(press.data) is not None:  # a route's button: jobs.team_routes
        return answer_press(ctx, press, "cards", *route_press(ctx, press))
    return answer_press(ctx, press, "cards", *_take(ctx, press, now))


def _take(ctx: Context, press: Press, now: dt.datetime) -> tuple[str, str]:
    """What a press on Take comes to, and the answer the presser sees."""
    card = pressed_card(ctx, press, team_cards.taken_card(press.data))
    if card is None:
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
            press.chat_id, card.telegram_message_id, text, reply_markup=card_buttons(ctx, card, taken=True)
        )
    return "taken", f"{card.issue_key} is assigned to you."
